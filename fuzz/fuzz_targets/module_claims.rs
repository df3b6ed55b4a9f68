//! Read arbitrary bytes as a signed actor module: the wasm section walk, the claims
//! section, both module-hash algorithms (current and legacy) and the full verification.
//! Must never panic; both algorithms walk the same sections, so they fail together.
#![no_main]
use lattice_host::claims;
use libfuzzer_sys::fuzz_target;

const NOW: u64 = 1_700_000_000;

fuzz_target!(|data: &[u8]| {
    let current = claims::module_hash(data);
    let legacy = claims::legacy_module_hash(data);
    assert_eq!(current.is_ok(), legacy.is_ok(), "the two hash algorithms disagree on whether {data:?} is a module");
    if let Ok(stripped) = claims::strip_claims(data) {
        // The current algorithm is a re-encoding: it never grows the module.
        assert!(stripped.len() <= data.len());
    }
    if let Ok(Some(token)) = claims::read(data) {
        let _ = claims::check_module_hash(data, &token.claims);
    }
    let _ = claims::extract(data);
    if let Ok(v) = claims::verify(data, NOW) {
        // Whatever matched is one of the two hashes of these bytes.
        let hash = &v.metadata().hash;
        assert!(Some(hash) == current.as_ref().ok() || Some(hash) == legacy.as_ref().ok());
    }
});
