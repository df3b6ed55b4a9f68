//! What a host agrees to load, in one place: which references the control interface may
//! name, whose signatures modules and provider archives may carry, and how big a file may
//! be before it is read.
//!
//! The control interface (`cmd.{host}.la`, `.lp`, `.scale`) carries no signature: anyone
//! who may publish there could otherwise start any file on the host's disk and hand it the
//! cluster seed. So, as in 0.82:
//! - **Local paths** from the control interface are refused unless the host was started
//!   with `--allow-file-load` ([`check_control_reference`]); manifests and `lattice up`
//!   flags (the operator's own choice) always may name files.
//! - **Signers**: with `--trusted-issuers A…,A…` only modules and archives signed by one of
//!   those accounts are loaded ([`check_issuer`]); without it any valid signature is
//!   accepted (0.82's default), and the host says so once at start.
//! - **Sizes**: a file is stat'ed before it is read and refused above [`MAX_LOAD_BYTES`]
//!   ([`read_local_file`]); archives are also capped when unpacked (see
//!   [`crate::provider::archive`]).
//!
//! Registry references (another branch) are to pass through the same functions.

use std::io::Read;
use std::path::{Path, PathBuf};

use crate::config::HostConfig;
use crate::error::HostError;
use crate::provider;

/// The largest actor module or provider file (archive or executable) a host reads.
pub const MAX_LOAD_BYTES: u64 = 512 * 1024 * 1024;

fn refused(reference: &str, reason: impl Into<String>) -> HostError {
    HostError::Reference { reference: reference.to_owned(), reason: reason.into() }
}

/// Whether the control interface may start `reference`: a local path needs
/// `allow_file_load`, and must be a regular file no bigger than [`MAX_LOAD_BYTES`].
pub fn check_control_reference(config: &HostConfig, reference: &str) -> Result<PathBuf, HostError> {
    let path = provider::local_path(reference)?;
    if !config.allow_file_load {
        return Err(refused(
            reference,
            "loading local files over the control interface is disabled on this host (start it with --allow-file-load)",
        ));
    }
    check_file(reference, &path)?;
    Ok(path)
}

/// Stat `path`: a regular file of at most [`MAX_LOAD_BYTES`].
fn check_file(reference: &str, path: &Path) -> Result<u64, HostError> {
    let meta = std::fs::metadata(path).map_err(|e| HostError::io(path, e))?;
    if !meta.is_file() {
        return Err(refused(reference, format!("{} is not a regular file", path.display())));
    }
    if meta.len() > MAX_LOAD_BYTES {
        return Err(refused(
            reference,
            format!("{} is {} bytes, more than the {MAX_LOAD_BYTES}-byte limit", path.display(), meta.len()),
        ));
    }
    Ok(meta.len())
}

/// Read a module or provider file: stat first (regular file, at most [`MAX_LOAD_BYTES`]),
/// then read at most that many bytes (a file growing meanwhile is refused, not read whole).
pub fn read_local_file(reference: &str, path: &Path) -> Result<Vec<u8>, HostError> {
    let len = check_file(reference, path)?;
    let file = std::fs::File::open(path).map_err(|e| HostError::io(path, e))?;
    let mut bytes = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
    file.take(MAX_LOAD_BYTES + 1).read_to_end(&mut bytes).map_err(|e| HostError::io(path, e))?;
    if bytes.len() as u64 > MAX_LOAD_BYTES {
        return Err(refused(reference, format!("{} grew beyond the {MAX_LOAD_BYTES}-byte limit", path.display())));
    }
    Ok(bytes)
}

/// Whether `issuer` (the account that signed a module's or an archive's claims) may be
/// loaded: any, unless the host has `trusted_issuers`.
pub fn check_issuer(
    trusted: Option<&[lattice_proto::AccountKey]>,
    what: &str,
    reference: &str,
    issuer: &str,
) -> Result<(), HostError> {
    match trusted {
        None => Ok(()),
        Some(trusted) if trusted.iter().any(|k| k.as_str() == issuer) => Ok(()),
        Some(_) => Err(refused(reference, format!("the {what} is signed by {issuer}, which is not a trusted issuer"))),
    }
}

/// The one-line warning a host logs at start when signers are unrestricted.
pub const UNRESTRICTED_ISSUERS_WARNING: &str = "any validly signed actor module or provider archive will be loaded: issuers are unrestricted (--trusted-issuers restricts them)";
