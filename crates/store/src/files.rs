//! The data directory is private: the directory and every directory under it 0700, every file 0600
//! (the database with its WAL and SHM, the secret key, uploads, imports, demo files), whatever the
//! umask. [`secure_data_dir`] makes it so at start-up, tightening what an older Tessera (or a loose
//! umask) left readable by others; [`create_private`] makes new files private from their first byte.

use std::fs::{DirBuilder, File, OpenOptions};
use std::path::{Path, PathBuf};

/// The mode of every directory in the data directory.
pub const DIR_MODE: u32 = 0o700;
/// The mode of every file in the data directory.
pub const FILE_MODE: u32 = 0o600;

/// A path whose permissions could not be made private.
#[derive(Debug, thiserror::Error)]
#[error(
    "{path} is readable by other accounts and cannot be made private ({reason}); run Tessera as the owner of \
     the data directory, or fix it with `chmod -R go-rwx {path}`"
)]
pub struct NotPrivate {
    pub path: PathBuf,
    pub reason: std::io::Error,
}

/// What [`secure_data_dir`] changed: each path whose mode was tightened, with its old mode.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Tightened {
    pub paths: Vec<(PathBuf, u32)>,
}

/// Creates the data directory (0700) if it is missing, then tightens it and everything in it: a
/// directory to 0700, a file to 0600. Symbolic links are neither followed nor changed (a link's own
/// mode means nothing). Fails, naming the path, where a mode cannot be changed.
pub fn secure_data_dir(dir: &Path) -> Result<Tightened, NotPrivate> {
    let fail = |path: &Path| {
        let path = path.to_owned();
        move |reason| NotPrivate { path, reason }
    };
    private_dir_all(dir).map_err(fail(dir))?;
    let mut tightened = Tightened::default();
    let mut pending = vec![dir.to_owned()];
    while let Some(path) = pending.pop() {
        let metadata = std::fs::symlink_metadata(&path).map_err(fail(&path))?;
        let file_type = metadata.file_type();
        let wanted = if file_type.is_dir() {
            DIR_MODE
        } else if file_type.is_file() {
            FILE_MODE
        } else {
            continue;
        };
        if let Some(old) = tighten(&path, &metadata, wanted).map_err(fail(&path))? {
            tightened.paths.push((path.clone(), old));
        }
        if file_type.is_dir() {
            for entry in std::fs::read_dir(&path).map_err(fail(&path))? {
                pending.push(entry.map_err(fail(&path))?.path());
            }
        }
    }
    Ok(tightened)
}

/// Creates `dir` and its missing parents inside the data directory as private directories.
pub fn private_dir_all(dir: &Path) -> std::io::Result<()> {
    let mut builder = DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, DIR_MODE);
    builder.create(dir)
}

/// Creates (or truncates) a file only its owner may read or write. A file that exists keeps its
/// content's owner but is made private before anything is written.
pub fn create_private(path: &Path) -> std::io::Result<File> {
    let mut options = OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, FILE_MODE);
    let file = options.open(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(FILE_MODE))?;
    }
    Ok(file)
}

/// Sets `wanted` when the path allows more than it; returns the old mode when it changed.
#[cfg(unix)]
fn tighten(path: &Path, metadata: &std::fs::Metadata, wanted: u32) -> std::io::Result<Option<u32>> {
    use std::os::unix::fs::PermissionsExt;
    let mode = metadata.permissions().mode() & 0o7777;
    if mode & !wanted == 0 {
        return Ok(None);
    }
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(wanted))?;
    Ok(Some(mode))
}

#[cfg(not(unix))]
fn tighten(_: &Path, _: &std::fs::Metadata, _: u32) -> std::io::Result<Option<u32>> {
    Ok(None)
}

#[cfg(all(test, unix))]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::symlink_metadata(path).unwrap().permissions().mode() & 0o7777
    }

    #[test]
    fn an_open_data_directory_is_made_private_and_links_are_left_alone() {
        let root = std::env::temp_dir().join(format!("tessera-files-{}", uuid::Uuid::new_v4().simple()));
        let dir = root.join("data");
        std::fs::create_dir_all(dir.join("imports")).unwrap();
        std::fs::write(dir.join("tessera.db"), b"").unwrap();
        std::fs::write(dir.join("imports/hr.csv"), b"").unwrap();
        std::fs::write(root.join("outside"), b"").unwrap();
        std::os::unix::fs::symlink(root.join("outside"), dir.join("link")).unwrap();
        for path in [&dir, &dir.join("imports")] {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        for path in [dir.join("tessera.db"), dir.join("imports/hr.csv"), root.join("outside")] {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644)).unwrap();
        }
        let tightened = secure_data_dir(&dir).unwrap();
        assert_eq!(tightened.paths.len(), 4, "{tightened:?}");
        assert!(tightened.paths.contains(&(dir.join("tessera.db"), 0o644)));
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&dir.join("imports")), 0o700);
        assert_eq!(mode(&dir.join("tessera.db")), 0o600);
        assert_eq!(mode(&dir.join("imports/hr.csv")), 0o600);
        assert_eq!(mode(&root.join("outside")), 0o644, "a link's target outside is not touched");
        assert_eq!(secure_data_dir(&dir).unwrap(), Tightened::default(), "nothing more to do");
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn a_new_data_directory_and_new_files_are_private_whatever_the_umask_allows() {
        let root = std::env::temp_dir().join(format!("tessera-files-{}", uuid::Uuid::new_v4().simple()));
        let dir = root.join("a/b");
        assert_eq!(secure_data_dir(&dir).unwrap(), Tightened::default());
        assert_eq!(mode(&dir), 0o700);
        let file = dir.join("upload.csv");
        std::fs::write(&file, b"old").unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o666)).unwrap();
        drop(create_private(&file).unwrap());
        assert_eq!(mode(&file), 0o600);
        assert_eq!(std::fs::read(&file).unwrap(), b"", "truncated");
        std::fs::remove_dir_all(&root).unwrap();
    }
}
