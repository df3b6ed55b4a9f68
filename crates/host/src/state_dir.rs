//! The host's state directory: what must survive a host restart without living in the
//! lattice.
//!
//! - `providers/keys/{sha256 of the binary}.seed` — the key of a native provider executable
//!   started without a `seed`. Links name the provider's public key, so the key must be the
//!   same every time the same binary starts (CONVENTIONS.md "References a host resolves").
//!   Written once (mode 0600), read ever after.
//! - `providers/bin/{sha256}/{target}.bin` — executables unpacked from provider archives.

use std::path::{Path, PathBuf};

use data_encoding::HEXLOWER;
use nkeys::{KeyPair, KeyPairType};
use sha2::{Digest, Sha256};

use crate::error::HostError;

/// The state directory of one host.
#[derive(Clone, Debug)]
pub struct StateDir {
    root: PathBuf,
}

fn state_err(path: &Path, reason: impl std::fmt::Display) -> HostError {
    HostError::State { path: path.to_owned(), reason: reason.to_string() }
}

/// Lowercase hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    HEXLOWER.encode(&Sha256::digest(bytes))
}

impl StateDir {
    /// A state directory rooted at `root` (created on first use).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The provider key for the executable whose SHA-256 is `binary_hash`: read from the
    /// state directory, or generated and stored there on first use.
    pub fn provider_key(&self, binary_hash: &str) -> Result<KeyPair, HostError> {
        let dir = self.root.join("providers").join("keys");
        let path = dir.join(format!("{binary_hash}.seed"));
        match std::fs::read_to_string(&path) {
            Ok(seed) => {
                let kp = KeyPair::from_seed(seed.trim()).map_err(|e| state_err(&path, e))?;
                if kp.key_pair_type() != KeyPairType::Service {
                    return Err(state_err(&path, "not a provider (service) seed"));
                }
                return Ok(kp);
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(state_err(&path, e)),
        }
        std::fs::create_dir_all(&dir).map_err(|e| state_err(&dir, e))?;
        let kp = KeyPair::new_service();
        let seed = kp.seed().map_err(|e| state_err(&path, e))?;
        write_private(&path, seed.as_bytes())?;
        // Another host sharing the directory may have won the race: use whatever is there.
        let stored = std::fs::read_to_string(&path).map_err(|e| state_err(&path, e))?;
        KeyPair::from_seed(stored.trim()).map_err(|e| state_err(&path, e))
    }

    /// A key of kind `kind` kept under `keys/{name}.seed`: read, or generated and stored on
    /// first use (e.g. the module key of an actor a manifest signs at start, so its public
    /// key — and the links naming it — stay the same across restarts).
    pub fn stable_key(&self, name: &str, kind: KeyPairType) -> Result<KeyPair, HostError> {
        let dir = self.root.join("keys");
        let path = dir.join(format!("{name}.seed"));
        match std::fs::read_to_string(&path) {
            Ok(seed) => {
                let kp = KeyPair::from_seed(seed.trim()).map_err(|e| state_err(&path, e))?;
                if kp.key_pair_type() != kind {
                    return Err(state_err(&path, format!("not a {kind:?} seed")));
                }
                return Ok(kp);
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(state_err(&path, e)),
        }
        std::fs::create_dir_all(&dir).map_err(|e| state_err(&dir, e))?;
        let kp = KeyPair::new(kind);
        let seed = kp.seed().map_err(|e| state_err(&path, e))?;
        write_private(&path, seed.as_bytes())?;
        let stored = std::fs::read_to_string(&path).map_err(|e| state_err(&path, e))?;
        KeyPair::from_seed(stored.trim()).map_err(|e| state_err(&path, e))
    }

    /// Where the executable for `target` unpacked from an archive with hash `archive_hash`
    /// lives; written (executable) if it is not there yet.
    pub fn unpacked_binary(&self, archive_hash: &str, target: &str, bytes: &[u8]) -> Result<PathBuf, HostError> {
        let dir = self.root.join("providers").join("bin").join(archive_hash);
        let path = dir.join(format!("{target}.bin"));
        if path.is_file() && std::fs::metadata(&path).map(|m| m.len() == bytes.len() as u64).unwrap_or(false) {
            return Ok(path);
        }
        std::fs::create_dir_all(&dir).map_err(|e| state_err(&dir, e))?;
        let tmp = dir.join(format!(".{target}.{}.tmp", std::process::id()));
        std::fs::write(&tmp, bytes).map_err(|e| state_err(&tmp, e))?;
        set_mode(&tmp, 0o755)?;
        std::fs::rename(&tmp, &path).map_err(|e| state_err(&path, e))?;
        Ok(path)
    }
}

/// Create `path` with `bytes`, readable by the owner only; an existing file is kept.
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), HostError> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    match options.open(path) {
        Ok(mut file) => file.write_all(bytes).map_err(|e| state_err(path, e)),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(state_err(path, e)),
    }
}

fn set_mode(path: &Path, mode: u32) -> Result<(), HostError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).map_err(|e| state_err(path, e))?;
    }
    #[cfg(not(unix))]
    let _ = (path, mode);
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    #[test]
    fn provider_keys_are_stable_per_binary() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::new(dir.path());
        let a = state.provider_key("aa").unwrap();
        let again = StateDir::new(dir.path()).provider_key("aa").unwrap();
        let b = state.provider_key("bb").unwrap();
        assert_eq!(a.public_key(), again.public_key());
        assert_ne!(a.public_key(), b.public_key());
        assert!(a.public_key().starts_with('V'));
    }

    #[test]
    fn unpacked_binaries_are_executable() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::new(dir.path());
        let path = state.unpacked_binary("h", "x86_64-linux", b"#!/bin/sh\n").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"#!/bin/sh\n");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o111, 0o111);
        }
    }
}
