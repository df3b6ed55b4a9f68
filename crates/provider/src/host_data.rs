//! Loading `HostData`, the document a host hands its provider at launch (PROTOCOL.md §2.6).
//!
//! The host (wasmCloud 0.82 or Lattice) writes the JSON, base64-encoded (standard alphabet,
//! padded), as **one line** on the provider's stdin, followed by `\r\n`, and then closes
//! stdin. A provider reads exactly one line, trims it, decodes it and validates the fields
//! it relies on; anything else is a clear start-up error (exit code 2), never a panic.

use std::io::{BufRead, IsTerminal};
use std::time::Duration;

use lattice_proto::host_data::ValidHostData;
use lattice_proto::{HostData, LinkDefinition};

use crate::error::ProviderError;

/// The NATS URL used when HostData's `lattice_rpc_url` is empty (as provider-sdk 0.2.0).
pub const DEFAULT_NATS_URL: &str = "nats://127.0.0.1:4222";

/// The timeout of provider-to-actor calls when HostData carries no
/// `default_rpc_timeout_ms` (Lattice never waits forever: PROTOCOL.md §11.2).
pub const DEFAULT_RPC_TIMEOUT: Duration = Duration::from_millis(2000);

/// HostData as received, together with its validated, typed view.
#[derive(Clone, Debug)]
pub struct LoadedHostData {
    raw: HostData,
    valid: ValidHostData,
}

impl LoadedHostData {
    /// Validate a decoded [`HostData`].
    pub fn new(raw: HostData) -> Result<Self, ProviderError> {
        let valid = raw.validate().map_err(ProviderError::HostData)?;
        Ok(Self { raw, valid })
    }

    /// Decode and validate the stdin form (one base64 line; surrounding whitespace ignored).
    pub fn from_line(line: &[u8]) -> Result<Self, ProviderError> {
        if line.trim_ascii().is_empty() {
            return Err(ProviderError::HostDataMissing);
        }
        Self::new(HostData::from_base64(line).map_err(ProviderError::HostData)?)
    }

    /// Read one line from this process's stdin and decode it. Refuses at once when stdin
    /// is a terminal (nobody will write HostData there).
    pub async fn from_stdin() -> Result<Self, ProviderError> {
        let line = tokio::task::spawn_blocking(|| {
            let stdin = std::io::stdin();
            if stdin.is_terminal() {
                return Err(ProviderError::HostDataTerminal);
            }
            let mut line = String::new();
            stdin.lock().read_line(&mut line).map_err(ProviderError::HostDataRead)?;
            Ok(line)
        })
        .await
        .map_err(|e| ProviderError::HostDataRead(std::io::Error::other(e)))??;
        Self::from_line(line.as_bytes())
    }

    /// The document as the host sent it.
    pub fn raw(&self) -> &HostData {
        &self.raw
    }

    /// The validated keys and names.
    pub fn valid(&self) -> &ValidHostData {
        &self.valid
    }

    /// The NATS URL of the RPC connection (`nats://127.0.0.1:4222` when none was given).
    pub fn nats_url(&self) -> &str {
        let url = self.raw.lattice_rpc_url.trim();
        if url.is_empty() { DEFAULT_NATS_URL } else { url }
    }

    /// The timeout of provider-to-actor calls: `default_rpc_timeout_ms`, else 2000 ms.
    pub fn rpc_timeout(&self) -> Duration {
        match self.raw.default_rpc_timeout_ms {
            Some(ms) if ms > 0 => Duration::from_millis(ms),
            _ => DEFAULT_RPC_TIMEOUT,
        }
    }

    /// The links in HostData that are for this provider and link name.
    pub fn own_links(&self) -> impl Iterator<Item = &LinkDefinition> {
        self.raw.link_definitions.iter().filter(|ld| {
            ld.provider_id == self.valid.provider_key.as_str() && ld.link_name == self.valid.link_name.as_str()
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    #[test]
    fn debug_redacts_the_seeds() {
        let seed = lattice_proto::ClusterSeed::generate();
        let raw = lattice_proto::HostData {
            host_id: nkeys::KeyPair::new_server().public_key(),
            lattice_rpc_prefix: "default".into(),
            link_name: "default".into(),
            provider_key: nkeys::KeyPair::new_service().public_key(),
            invocation_seed: seed.seed(),
            lattice_rpc_user_seed: nkeys::KeyPair::new_user().seed().unwrap(),
            ..lattice_proto::HostData::default()
        };
        let user_seed = raw.lattice_rpc_user_seed.clone();
        let loaded = LoadedHostData::new(raw).unwrap();
        let text = format!("{loaded:?}");
        assert!(!text.contains(&seed.seed()) && !text.contains(&user_seed), "{text}");
    }

    #[test]
    fn empty_and_garbage_lines_are_clear_errors() {
        assert!(matches!(LoadedHostData::from_line(b"\r\n"), Err(ProviderError::HostDataMissing)));
        let e = LoadedHostData::from_line(b"not base64!!\r\n").unwrap_err();
        assert!(lattice_proto::chain(&e).starts_with("bad HostData: malformed base64"), "{e}");
        assert_eq!(e.exit_code(), 2);
        // Valid base64 of JSON that lacks the required fields.
        let e = LoadedHostData::from_line(b"e30=\r\n").unwrap_err();
        assert!(lattice_proto::chain(&e).contains("missing field"), "{e}");
    }
}
