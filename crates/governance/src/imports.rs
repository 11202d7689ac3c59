//! Where delimited-file sources may read: only inside the configured import directories (by default
//! `<data dir>/imports`). A source's `connectorAttributes.file` comes from whoever may manage sources,
//! so it is resolved — `..` and symbolic links included — and refused when it leaves them, with a
//! message that says where files may live and nothing about the path outside.

use std::fmt;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

/// The directories delimited files are read from. Empty, nothing is read from a configured path.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct ImportDirs {
    dirs: Arc<[PathBuf]>,
}

impl fmt::Debug for ImportDirs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.dirs.iter()).finish()
    }
}

/// Why a configured file is not read. No message says anything about a path outside the import
/// directories, not even whether it exists.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImportRefused {
    #[error(
        "delimited files are read only from the import directories ({dirs}); put the file there and name it by \
         its path (or its name alone, inside the first), or add its directory to `import_dirs` in the configuration"
    )]
    Outside { dirs: String },
    #[error("there is no file `{name}` in the import directories ({dirs})")]
    Missing { name: String, dirs: String },
    #[error("no import directory is configured, so delimited files can only be uploaded")]
    NoDirectories,
}

impl ImportDirs {
    /// These directories; each is made absolute and, where it exists, resolved to its real path, so
    /// a link in its own path does not make every file look outside.
    pub fn new(dirs: impl IntoIterator<Item = PathBuf>) -> Self {
        let dirs: Vec<PathBuf> = dirs
            .into_iter()
            .map(|dir| {
                let absolute = std::path::absolute(&dir).unwrap_or(dir);
                std::fs::canonicalize(&absolute).unwrap_or_else(|_| normalize(&absolute))
            })
            .collect();
        Self { dirs: dirs.into() }
    }

    /// The directories, the first being where a bare file name is looked for.
    pub fn dirs(&self) -> &[PathBuf] {
        &self.dirs
    }

    fn listed(&self) -> String {
        self.dirs.iter().map(|dir| dir.display().to_string()).collect::<Vec<_>>().join(", ")
    }

    /// Checks a configured path without touching the file system: inside an import directory once
    /// `.` and `..` are resolved. What a source is saved with.
    pub fn check(&self, configured: &str) -> Result<PathBuf, ImportRefused> {
        let Some(first) = self.dirs.first() else {
            return Err(ImportRefused::NoDirectories);
        };
        let path = Path::new(configured);
        let path = normalize(&if path.is_absolute() { path.to_owned() } else { first.join(path) });
        if self.dirs.iter().any(|dir| path.starts_with(dir) && path != *dir) {
            Ok(path)
        } else {
            Err(ImportRefused::Outside { dirs: self.listed() })
        }
    }

    /// The file a configured path names, resolved through every link: what an aggregation reads.
    pub fn resolve(&self, configured: &str) -> Result<PathBuf, ImportRefused> {
        let path = self.check(configured)?;
        let missing = || ImportRefused::Missing { name: configured.to_owned(), dirs: self.listed() };
        let real = std::fs::canonicalize(&path).map_err(|_| missing())?;
        if !self.dirs.iter().any(|dir| real.starts_with(dir)) {
            return Err(ImportRefused::Outside { dirs: self.listed() });
        }
        if !real.is_file() {
            return Err(missing());
        }
        Ok(real)
    }
}

/// `path` with `.` dropped and each `..` taking away the component before it (never above the root).
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn files_inside_are_read_and_every_way_out_is_refused_alike() {
        let root = std::env::temp_dir().join(format!("tessera-imports-{}", uuid::Uuid::new_v4().simple()));
        let imports = root.join("imports");
        std::fs::create_dir_all(imports.join("hr")).unwrap();
        std::fs::write(imports.join("hr/people.csv"), "id\n").unwrap();
        std::fs::write(root.join("secret.key"), "k").unwrap();
        #[cfg(unix)]
        std::os::unix::fs::symlink(root.join("secret.key"), imports.join("link.csv")).unwrap();
        let dirs = ImportDirs::new([imports.clone()]);
        let real = std::fs::canonicalize(imports.join("hr/people.csv")).unwrap();
        assert_eq!(dirs.resolve("hr/people.csv").unwrap(), real);
        assert_eq!(dirs.resolve(imports.join("hr/../hr/people.csv").to_str().unwrap()).unwrap(), real);
        let outside = ImportRefused::Outside { dirs: dirs.listed() };
        for escape in [
            "../secret.key".to_owned(),
            root.join("secret.key").display().to_string(),
            root.join("no-such-file").display().to_string(),
            "/etc/passwd".to_owned(),
            imports.display().to_string(),
        ] {
            assert_eq!(dirs.resolve(&escape), Err(outside.clone()), "{escape}");
        }
        #[cfg(unix)]
        assert_eq!(dirs.resolve("link.csv"), Err(outside.clone()), "a link out is refused as outside");
        let missing = dirs.resolve("nobody.csv").unwrap_err();
        assert!(matches!(missing, ImportRefused::Missing { .. }), "{missing}");
        assert!(dirs.resolve("hr").is_err(), "a directory is not a file");
        assert_eq!(ImportDirs::default().resolve("hr/people.csv"), Err(ImportRefused::NoDirectories));
        std::fs::remove_dir_all(&root).unwrap();
    }
}
