//! Decode arbitrary bytes as a HealthCheckResponse; a decoded value must re-encode and decode to itself.
#![no_main]
use lattice_proto::HealthCheckResponse;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(v) = HealthCheckResponse::decode(data) {
        assert_eq!(HealthCheckResponse::decode(&v.encode()).expect("round trip"), v);
    }
});
