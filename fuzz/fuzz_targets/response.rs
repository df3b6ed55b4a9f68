//! Decode arbitrary bytes as a InvocationResponse; a decoded value must re-encode and decode to itself.
#![no_main]
use lattice_proto::InvocationResponse;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(v) = InvocationResponse::decode(data) {
        assert_eq!(InvocationResponse::decode(&v.encode()).expect("round trip"), v);
    }
});
