//! Decode arbitrary bytes as an Invocation; if it decodes, verifying and re-encoding must not panic.
#![no_main]
use lattice_proto::{ClusterKey, Invocation, TrustedIssuers, VerifyOptions};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(inv) = Invocation::decode(data) {
        let key = ClusterKey::parse("CCFIRY65OQE7DFP5KLNS2PF2LVZMUZYJX4OZIEQ36N2IQANUB5XVZKMI").expect("key");
        let issuers = TrustedIssuers::new([&key]);
        let _ = issuers.verify(&inv, &VerifyOptions { now: 1_707_858_000, max_age: Some(300) });
        let again = Invocation::decode(&inv.encode()).expect("re-encoded invocation decodes");
        assert_eq!(again, inv);
    }
});
