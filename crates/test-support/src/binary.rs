//! Locating the `nats-server` executable.
//!
//! An explicit path in [`NATS_SERVER_ENV`] wins; otherwise `nats-server` is looked up on
//! `PATH`. When neither yields an executable the test panics with an actionable message:
//! a test that silently skips without a server would hide every NATS regression.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};

/// Environment variable naming an explicit `nats-server` binary, checked before `PATH`.
pub const NATS_SERVER_ENV: &str = "LATTICE_NATS_SERVER";

/// The panic message when no binary can be found.
const NOT_FOUND: &str = "nats-server not found on PATH: install it with \
     'apt-get install -y nats-server' (Debian) or set LATTICE_NATS_SERVER=/path/to/nats-server";

/// Returns the path of the `nats-server` binary to run.
///
/// # Panics
/// If [`NATS_SERVER_ENV`] is set but does not name an executable file, or if it is unset and
/// no `nats-server` is on `PATH`. The message says how to install the server.
pub fn nats_server_binary() -> PathBuf {
    locate(std::env::var_os(NATS_SERVER_ENV).as_deref(), std::env::var_os("PATH").as_deref())
        .unwrap_or_else(|message| panic!("{message}"))
}

/// Why no `nats-server` binary was found (this crate has only std and tempfile as
/// dependencies, so the error is written by hand rather than with `thiserror`).
#[derive(Debug, PartialEq, Eq)]
enum LocateError {
    /// [`NATS_SERVER_ENV`] names something that is not an executable file.
    NotExecutable(PathBuf),
    /// Nothing on `PATH`.
    NotFound,
}

impl std::fmt::Display for LocateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LocateError::NotExecutable(path) => write!(
                f,
                "{NATS_SERVER_ENV}={} is not an executable file: point it at a nats-server \
                 binary or unset it to use the one on PATH",
                path.display()
            ),
            LocateError::NotFound => f.write_str(NOT_FOUND),
        }
    }
}

impl std::error::Error for LocateError {}

/// The lookup behind [`nats_server_binary`], over explicit values so it can be unit-tested
/// without mutating the process environment.
fn locate(explicit: Option<&OsStr>, path: Option<&OsStr>) -> Result<PathBuf, LocateError> {
    if let Some(explicit) = explicit.filter(|value| !value.is_empty()) {
        let explicit = PathBuf::from(explicit);
        return if is_executable(&explicit) { Ok(explicit) } else { Err(LocateError::NotExecutable(explicit)) };
    }
    let path = path.map(OsString::from).unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join("nats-server"))
        .find(|candidate| is_executable(candidate))
        .ok_or(LocateError::NotFound)
}

/// Whether `path` is a regular file with an execute bit set.
fn is_executable(path: &Path) -> bool {
    let Ok(meta) = path.metadata() else {
        return false;
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        meta.is_file() && meta.permissions().mode() & 0o111 != 0
    }
    #[cfg(not(unix))]
    {
        meta.is_file()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A temp dir holding an executable `nats-server` stand-in.
    fn fake_install() -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("tempdir");
        let bin = dir.path().join("nats-server");
        std::fs::write(&bin, "#!/bin/sh\n").expect("write fake binary");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).expect("chmod fake binary");
        }
        dir
    }

    #[test]
    fn explicit_path_wins_over_path() {
        let dir = fake_install();
        let bin = dir.path().join("nats-server");
        let found = locate(Some(bin.as_os_str()), Some(OsStr::new("/nonexistent")));
        assert_eq!(found, Ok(bin));
    }

    #[test]
    fn explicit_path_must_exist() {
        let err = locate(Some(OsStr::new("/nonexistent/nats")), None).expect_err("must fail");
        assert!(err.to_string().contains("LATTICE_NATS_SERVER=/nonexistent/nats"), "{err}");
    }

    #[test]
    fn found_on_path() {
        let dir = fake_install();
        let path = std::env::join_paths(["/nonexistent".as_ref(), dir.path()]).expect("join");
        let found = locate(Some(OsStr::new("")), Some(&path));
        assert_eq!(found, Ok(dir.path().join("nats-server")));
    }

    #[test]
    fn missing_binary_message_is_actionable() {
        let err = locate(None, Some(OsStr::new("/nonexistent"))).expect_err("must fail");
        assert_eq!(
            err.to_string(),
            "nats-server not found on PATH: install it with 'apt-get install -y nats-server' \
             (Debian) or set LATTICE_NATS_SERVER=/path/to/nats-server"
        );
        assert_eq!(locate(None, None), Err(err));
    }
}
