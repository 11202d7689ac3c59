//! Where the commands find the key that seals connector secrets: made once in the data directory for
//! its owner only and then reused, or given by `TESSERA_SECRET_KEY` / `--secret-key-file`, with a clear
//! refusal (that never repeats the key) when what is given is not a key.

#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::{Command, Output};

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("tessera-key-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `tessera source aggregate` of a source that does not exist: it opens the store, key included, and
/// then fails for the missing source.
fn aggregate(data_dir: &Path, configure: impl FnOnce(&mut Command)) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tessera"));
    command.args(["source", "aggregate", "Nowhere", "--data-dir"]).arg(data_dir);
    command.env_remove("TESSERA_SECRET_KEY").env_remove("TESSERA_SECRET_KEY_FILE");
    configure(&mut command);
    command.output().unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn a_node_given_no_key_makes_one_for_its_owner_and_keeps_it() {
    let dir = temp_dir("made");
    let data = dir.join("data");
    let first = aggregate(&data, |_| {});
    assert!(stderr(&first).contains("Generated the key that seals connector secrets"), "{}", stderr(&first));
    assert!(stderr(&first).contains("source Nowhere not found"), "the store opened: {}", stderr(&first));
    let key_file = data.join("secret.key");
    let key = std::fs::read_to_string(&key_file).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&key_file).unwrap().permissions().mode() & 0o777, 0o600);
    }
    let second = aggregate(&data, |_| {});
    assert!(!stderr(&second).contains("Generated"), "{}", stderr(&second));
    assert_eq!(std::fs::read_to_string(&key_file).unwrap(), key, "the key is reused, never replaced");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_given_key_that_is_not_one_is_refused_without_repeating_it() {
    let dir = temp_dir("bad");
    let data = dir.join("data");
    let not_a_key = "c2hvcnQta2V5LXZhbHVl";
    let refused = aggregate(&data, |command| {
        command.env("TESSERA_SECRET_KEY", not_a_key);
    });
    assert!(!refused.status.success());
    let message = stderr(&refused);
    assert!(message.contains("TESSERA_SECRET_KEY is not a usable key") && message.contains("32 bytes"), "{message}");
    assert!(!message.contains(not_a_key), "{message}");
    assert!(!data.join("secret.key").exists(), "a given key is used instead of a key file");

    let missing = dir.join("no-such.key");
    let refused = aggregate(&data, |command| {
        command.arg("--secret-key-file").arg(&missing);
    });
    assert!(!refused.status.success());
    let message = stderr(&refused);
    assert!(message.contains("--secret-key-file") && message.contains(&*missing.to_string_lossy()), "{message}");

    let given = dir.join("given.key");
    std::fs::write(&given, "CQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQk=\n").unwrap();
    let used = aggregate(&data, |command| {
        command.env("TESSERA_SECRET_KEY_FILE", &given);
    });
    assert!(stderr(&used).contains("source Nowhere not found"), "{}", stderr(&used));
    std::fs::remove_dir_all(&dir).ok();
}
