//! The one place Lattice sets up rustls: [`install_ring`] installs ring as rustls'
//! process-wide crypto provider.
//!
//! Why it is needed: the workspace builds reqwest (under `oci-client` and the OTLP exporter)
//! with rustls but without a provider (`rustls-tls-no-provider`, so that aws-lc-sys is never
//! compiled), and reqwest's client panics at build time without one — even for plain
//! `http://` endpoints. Why its own crate: the two callers (`lattice-oci` before its first
//! pull, `lattice-telemetry` before building the exporter) share no lower crate that should
//! know about TLS (`lattice-proto` is sans-IO), and neither should depend on the other.

/// Install ring as rustls' process-wide crypto provider. Harmless when one is installed
/// already (by an earlier call, or by another thread first: fine either way).
pub fn install_ring() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Err only when another thread installed one first.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn installs_once_and_is_idempotent() {
        install_ring();
        assert!(rustls::crypto::CryptoProvider::get_default().is_some());
        install_ring();
        assert!(rustls::crypto::CryptoProvider::get_default().is_some());
    }
}
