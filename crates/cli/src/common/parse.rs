//! Parsing of flag values shared by several verbs (exit 2 on bad input).

use std::collections::BTreeMap;
use std::path::Path;

use lattice_proto::{ClusterKey, HostKey};

use crate::exit::Failure;

/// Parse `--issuer` values (exit 2 when one is not a cluster public key).
pub(crate) fn parse_issuers(values: &[String]) -> Result<Vec<ClusterKey>, Failure> {
    values
        .iter()
        .map(|k| ClusterKey::parse(k.trim()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Failure::bad_input(anyhow::anyhow!("--issuer: {e}")))
}

/// `--reply-prefix` of the watchers (`monitor`, `spy`, `ui`): where the answers to the
/// invocations they see travel, for pairing calls with responses. The one definition of the
/// flag; what a prefix may be is lattice-monitor's [`lattice_monitor::ReplyPrefix`].
#[derive(clap::Args, Clone, Debug)]
pub(crate) struct ReplyPrefixArgs {
    /// Reply-subject prefix whose messages are paired with invocations (latency, errors);
    /// repeatable. On a `lattice nats-config` lattice give `--reply-prefix _INBOX
    /// --reply-prefix _R_`: callers' answers travel on `_R_.…` there. Add a client's custom
    /// inbox prefix the same way.
    #[arg(long = "reply-prefix", value_name = "PREFIX", default_value = lattice_monitor::DEFAULT_REPLY_PREFIX)]
    reply_prefixes: Vec<lattice_monitor::ReplyPrefix>,
}

impl ReplyPrefixArgs {
    /// The prefixes given (default `_INBOX`).
    pub(crate) fn prefixes(&self) -> lattice_monitor::ReplyPrefixes {
        lattice_monitor::ReplyPrefixes::new(self.reply_prefixes.iter().cloned())
    }
}

/// Parse `--host` (exit 2 when it is not a host key).
pub(crate) fn parse_host(text: &str) -> Result<HostKey, Failure> {
    HostKey::parse(text.trim()).map_err(|e| Failure::bad_input(anyhow::anyhow!("host '{text}': {e}")))
}

/// Parse `k=v` pairs (labels, constraints, annotations, link values); exit 2 otherwise.
pub(crate) fn parse_pairs(what: &str, pairs: &[String]) -> Result<BTreeMap<String, String>, Failure> {
    pairs
        .iter()
        .map(|pair| match pair.split_once('=') {
            Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_owned(), v.to_owned())),
            _ => Err(Failure::bad_input(anyhow::anyhow!("{what} '{pair}' is not KEY=VALUE"))),
        })
        .collect()
}

/// A reference as a host resolves it: a plain path becomes an absolute `file://` URL
/// (exit 2 if the file is missing); OCI references (`host[:port]/repo:tag`, `oci://…`) and
/// URLs pass through (a host refuses what it cannot fetch).
pub(crate) fn local_ref(reference: &str) -> Result<String, Failure> {
    if reference.contains("://") || reference.starts_with("oci:") || lattice_oci::is_oci_reference(reference) {
        return Ok(reference.to_owned());
    }
    let path = Path::new(reference);
    let abs =
        std::fs::canonicalize(path).map_err(|e| Failure::bad_input(anyhow::anyhow!("{}: {e}", path.display())))?;
    Ok(format!("file://{}", abs.display()))
}
