//! The host's state directory: what must survive a host restart without living in the
//! lattice.
//!
//! - `providers/keys/{sha256 of the binary}.seed` — the key of a native provider executable
//!   started without a `seed`. Links name the provider's public key, so the key must be the
//!   same every time the same binary starts (CONVENTIONS.md "References a host resolves").
//!   Written once (mode 0600), read ever after.
//! - `providers/bin/{sha256}/{target}.bin` — executables unpacked from provider archives.
//! - `cluster.seed` — a cluster seed the host generated (no `--cluster-seed` given), mode
//!   0600, so that it never has to be printed.
//!
//! The directory holds secrets and executables the host launches, so: every directory is
//! created 0700; the root must be a real directory (not a symlink) owned by this user and
//! not writable by group or others, else the host refuses to use it ([`StateDir::prepare`]);
//! files are written through a fresh temporary file (`O_CREAT|O_EXCL`, which never follows
//! a symlink) renamed into place; an unpacked executable found there is compared with the
//! archive's bytes before it is reused.

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

    /// Create the root (0700) if needed and check it: a directory, not a symlink, owned by
    /// this user, not writable by group or others.
    pub fn prepare(&self) -> Result<(), HostError> {
        self.secure_dir(&self.root)
    }

    /// Create `dir` (and its parents under the root) with mode 0700, then check the root.
    fn secure_dir(&self, dir: &Path) -> Result<(), HostError> {
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt;
            builder.mode(0o700);
        }
        builder.create(dir).map_err(|e| state_err(dir, e))?;
        let meta = std::fs::symlink_metadata(&self.root).map_err(|e| state_err(&self.root, e))?;
        if !meta.is_dir() {
            return Err(state_err(&self.root, "the state directory is not a directory (a symlink is refused)"));
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            let me = rustix::process::geteuid().as_raw();
            if meta.uid() != me {
                return Err(state_err(
                    &self.root,
                    format!("the state directory is owned by uid {}, not by this user (uid {me})", meta.uid()),
                ));
            }
            if meta.mode() & 0o022 != 0 {
                return Err(state_err(
                    &self.root,
                    format!("the state directory is writable by group or others (mode {:o})", meta.mode() & 0o777),
                ));
            }
        }
        Ok(())
    }

    /// The path of a generated cluster seed.
    pub fn cluster_seed_path(&self) -> PathBuf {
        self.root.join("cluster.seed")
    }

    /// Store a generated cluster seed (0600, never replacing an existing file); returns
    /// its path.
    pub fn store_cluster_seed(&self, seed: &str) -> Result<PathBuf, HostError> {
        self.secure_dir(&self.root)?;
        let path = self.cluster_seed_path();
        let tmp = self.root.join(format!(".cluster.seed.{}.tmp", std::process::id()));
        let _ = std::fs::remove_file(&tmp);
        write_new(&tmp, seed.as_bytes(), 0o600)?;
        std::fs::rename(&tmp, &path).map_err(|e| state_err(&path, e))?;
        Ok(path)
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
        self.secure_dir(&dir)?;
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
        self.secure_dir(&dir)?;
        let kp = KeyPair::new(kind);
        let seed = kp.seed().map_err(|e| state_err(&path, e))?;
        write_private(&path, seed.as_bytes())?;
        let stored = std::fs::read_to_string(&path).map_err(|e| state_err(&path, e))?;
        KeyPair::from_seed(stored.trim()).map_err(|e| state_err(&path, e))
    }

    /// Where the executable for `target` unpacked from an archive with hash `archive_hash`
    /// lives; written (executable) unless a regular file with exactly these bytes (same
    /// SHA-256) is already there — a cached copy that was changed is rewritten.
    pub fn unpacked_binary(&self, archive_hash: &str, target: &str, bytes: &[u8]) -> Result<PathBuf, HostError> {
        let dir = self.root.join("providers").join("bin").join(archive_hash);
        let path = dir.join(format!("{target}.bin"));
        let cached = std::fs::symlink_metadata(&path).is_ok_and(|m| m.is_file() && m.len() == bytes.len() as u64)
            && std::fs::read(&path).is_ok_and(|on_disk| sha256_hex(&on_disk) == sha256_hex(bytes));
        if cached {
            return Ok(path);
        }
        self.secure_dir(&dir)?;
        let tmp = dir.join(format!(".{target}.{}.tmp", std::process::id()));
        let _ = std::fs::remove_file(&tmp);
        write_new(&tmp, bytes, 0o755)?;
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

/// Create `path` (which must not exist: `O_CREAT|O_EXCL` does not follow a symlink) with
/// `mode` and write `bytes`.
fn write_new(path: &Path, bytes: &[u8], mode: u32) -> Result<(), HostError> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    let mut file = options.open(path).map_err(|e| state_err(path, e))?;
    file.write_all(bytes).map_err(|e| state_err(path, e))?;
    file.sync_all().map_err(|e| state_err(path, e))
}

#[allow(dead_code, reason = "kept for non-Unix builds and future callers")]
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

    #[cfg(unix)]
    #[test]
    fn the_state_dir_is_private_and_checked() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("state");
        let state = StateDir::new(&root);
        state.prepare().unwrap();
        assert_eq!(std::fs::metadata(&root).unwrap().permissions().mode() & 0o777, 0o700);
        state.provider_key("aa").unwrap();
        let keys = root.join("providers").join("keys");
        assert_eq!(std::fs::metadata(&keys).unwrap().permissions().mode() & 0o777, 0o700);
        // A group-writable root is refused; so is a symlink.
        std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o770)).unwrap();
        assert!(state.prepare().unwrap_err().to_string().contains("writable by group or others"));
        std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o700)).unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&root, &link).unwrap();
        assert!(StateDir::new(&link).prepare().unwrap_err().to_string().contains("symlink"));
        // A generated cluster seed is kept 0600.
        let path = state.store_cluster_seed("SCSECRET").unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "SCSECRET");
    }

    #[test]
    fn a_changed_cached_binary_is_rewritten_and_symlinks_are_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::new(dir.path().join("s"));
        let path = state.unpacked_binary("h", "t", b"good").unwrap();
        // Same length, other bytes: replaced by the archive's bytes before launch.
        std::fs::write(&path, b"evil").unwrap();
        assert_eq!(state.unpacked_binary("h", "t", b"good").unwrap(), path);
        assert_eq!(std::fs::read(&path).unwrap(), b"good");
        #[cfg(unix)]
        {
            // A symlink planted at the path is replaced, its target left alone.
            let victim = dir.path().join("victim");
            std::fs::write(&victim, b"keep").unwrap();
            std::fs::remove_file(&path).unwrap();
            std::os::unix::fs::symlink(&victim, &path).unwrap();
            state.unpacked_binary("h", "t", b"good").unwrap();
            assert_eq!(std::fs::read(&victim).unwrap(), b"keep");
            assert_eq!(std::fs::read(&path).unwrap(), b"good");
        }
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
