//! Decode arbitrary bytes as a LinkDefinition; a decoded value must re-encode and decode to itself.
#![no_main]
use lattice_proto::LinkDefinition;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(v) = LinkDefinition::decode(data) {
        assert_eq!(LinkDefinition::decode(&v.encode()).expect("round trip"), v);
    }
});
