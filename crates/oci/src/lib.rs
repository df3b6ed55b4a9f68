//! # lattice-oci — wasmCloud 0.82 artifacts in OCI registries
//!
//! wasmCloud users publish actors (signed wasm modules) and capability providers (provider
//! archives, `.par.gz`) to OCI registries and start them by reference
//! (`wasmcloud.azurecr.io/echo:0.3.8`). This crate is everything a Lattice host and the
//! `lattice push` / `lattice pull` verbs need for that, with no NATS and no host inside:
//!
//! - [`OciRef`] / [`is_oci_reference`] — the reference forms 0.82 accepts, validated once;
//! - [`manifest::check`] — a registry's manifest (untrusted) checked for 0.82's media types
//!   and the size caps **before** any layer is downloaded;
//! - [`Registries`] — pulls (digest-verified, served from the cache by digest, tag fallback
//!   when the registry is unreachable), pushes (wash 0.82's media types), credentials per
//!   registry authority, `--allow-latest` and `--allowed-insecure`;
//! - [`Cache`] — `{state}/oci/{digest}`, re-verified on every read.
//!
//! The OCI wire protocol is the maintained `oci-client` crate's (the ORAS project's
//! successor of the `oci-distribution` crate 0.82 used), over rustls with ring.
//!
//! What the caller still checks: the artifact's **signature** (module claims for actors,
//! archive claims for providers) — a pulled artifact is only known to be what the registry
//! named, not that anyone trusted signed it.

pub mod cache;
mod error;
pub mod manifest;
mod pull;
mod reference;

pub use cache::Cache;
pub use error::OciError;
pub use manifest::{ArtifactKind, SizeCaps};
pub use pull::{
    Credential, DEFAULT_CONNECT_TIMEOUT, DEFAULT_TRANSFER_TIMEOUT, OciSettings, PullSource, Pulled, Pushed, Registries,
};
pub use reference::{MAX_REFERENCE_LEN, OciRef, is_oci_reference, is_sha256_digest};
