//! Parse arbitrary text as an invocation JWT; must never panic.
#![no_main]
#![allow(clippy::disallowed_methods, reason = "fuzzes the JWT parser under lattice_proto::verify")]
use lattice_proto::{ClusterKey, TrustedIssuers};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let token = String::from_utf8_lossy(data);
    let _ = lattice_proto::claims::decode_unverified(&token);
    let key = ClusterKey::parse("CCFIRY65OQE7DFP5KLNS2PF2LVZMUZYJX4OZIEQ36N2IQANUB5XVZKMI").expect("key");
    if let Ok(t) = TrustedIssuers::new([&key]).precheck(&token) {
        let _ = t.verify_signature();
    }
});
