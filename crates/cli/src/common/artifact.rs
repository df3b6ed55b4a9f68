//! What `lattice push` and `lattice pull` say about an artifact: its kind and its verified
//! claims (module claims for an actor, archive claims for a provider), as JSON.

use anyhow::{Context, anyhow};
use lattice_host::claims;
use lattice_host::provider::archive::ProviderArchive;
use lattice_oci::ArtifactKind;
use serde_json::{Value, json};

/// Tell an actor module (`\0asm`) from a provider archive (gzip or tar) and verify its
/// signed claims. `Err` says why it is not a runnable, signed artifact.
pub(crate) fn inspect(bytes: &[u8], now: u64) -> anyhow::Result<(ArtifactKind, Value)> {
    if bytes.starts_with(b"\0asm") {
        let verified = claims::verify(bytes, now).context("not a signed actor module")?;
        let meta = verified.metadata();
        return Ok((
            ArtifactKind::Actor,
            json!({
                "public_key": verified.actor().as_str(),
                "issuer": verified.issuer().as_str(),
                "name": verified.name(),
                "caps": verified.caps(),
                "call_alias": verified.call_alias(),
                "rev": meta.rev,
                "ver": meta.ver,
            }),
        ));
    }
    let par = ProviderArchive::parse(bytes, now)
        .map_err(|e| anyhow!("neither a signed actor module (no \\0asm header) nor a valid provider archive: {e}"))?;
    let meta = &par.claims.wascap;
    Ok((
        ArtifactKind::Provider,
        json!({
            "public_key": par.claims.sub,
            "issuer": par.claims.iss,
            "name": meta.name,
            "contract_id": meta.capid,
            "vendor": meta.vendor,
            "rev": meta.rev,
            "ver": meta.ver,
            "targets": meta.target_hashes.keys().collect::<Vec<_>>(),
        }),
    ))
}

/// One human line of claims.
pub(crate) fn describe(kind: ArtifactKind, claims: &Value) -> String {
    let s = |k: &str| claims[k].as_str().unwrap_or("").to_owned();
    match kind {
        ArtifactKind::Actor => format!(
            "actor {} name={:?} issuer={} caps={} rev={}",
            s("public_key"),
            s("name"),
            s("issuer"),
            claims["caps"],
            claims["rev"]
        ),
        ArtifactKind::Provider => format!(
            "provider {} name={:?} contract={} vendor={:?} issuer={} rev={}",
            s("public_key"),
            s("name"),
            s("contract_id"),
            s("vendor"),
            s("issuer"),
            claims["rev"]
        ),
    }
}
