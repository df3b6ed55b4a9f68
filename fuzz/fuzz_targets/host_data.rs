//! Decode arbitrary bytes as HostData (JSON or base64); validation must not panic.
#![no_main]
use lattice_proto::HostData;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(h) = HostData::decode_any(data) {
        let _ = h.validate();
        assert_eq!(HostData::from_json(&h.to_json()).expect("round trip"), h);
    }
});
