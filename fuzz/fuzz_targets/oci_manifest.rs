//! A registry's manifest (untrusted JSON) through `lattice_oci::manifest::check`, and the
//! same bytes as an OCI reference through `OciRef::parse`: never a panic; an accepted
//! manifest is within the cap and names at least one layer; an accepted reference
//! round-trips through its canonical form.
#![no_main]
use lattice_oci::manifest::{self, ArtifactKind, SizeCaps};
use lattice_oci::{OciRef, is_oci_reference};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((selector, rest)) = data.split_first() else { return };
    let expect = match selector % 3 {
        0 => None,
        1 => Some(ArtifactKind::Actor),
        _ => Some(ArtifactKind::Provider),
    };
    let caps = SizeCaps { actor: 1 << 20, archive: 1 << 22 };
    if let Ok(plan) = manifest::check(rest, expect, &caps) {
        assert!(!plan.layers.is_empty());
        assert!(plan.total <= caps.for_kind(plan.kind));
        assert_eq!(plan.total, plan.layers.iter().map(|l| l.size).sum::<u64>());
        if let Some(kind) = expect {
            assert_eq!(plan.kind, kind);
        }
    }
    if let Ok(text) = std::str::from_utf8(rest) {
        let _ = is_oci_reference(text);
        if let Ok(reference) = OciRef::parse(text) {
            let again = OciRef::parse(&reference.to_string()).expect("a canonical reference parses");
            assert_eq!(again.to_string(), reference.to_string());
            assert!(lattice_oci::is_oci_reference(&reference.to_string()));
        }
    }
});
