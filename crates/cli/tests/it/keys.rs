//! `lattice keys gen`.

use crate::lattice;

#[test]
fn every_kind_generates_a_valid_key_of_that_kind() {
    for (kind, prefix) in [("account", 'A'), ("cluster", 'C'), ("actor", 'M'), ("provider", 'V'), ("host", 'N')] {
        let out = lattice(&["keys", "gen", kind, "--json"], b"");
        assert!(out.status.success(), "{kind}: {}", String::from_utf8_lossy(&out.stderr));
        let stdout = String::from_utf8(out.stdout).unwrap();
        assert_eq!(stdout.lines().count(), 1, "JSON Lines: one object");
        let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
        assert_eq!(v["kind"], kind);
        let public = v["public_key"].as_str().unwrap();
        let seed = v["seed"].as_str().unwrap();
        assert!(public.starts_with(prefix), "{public}");
        assert_eq!(seed.chars().nth(1), Some(prefix), "{seed}");
        // The seed really is the seed of that public key.
        assert_eq!(nkeys::KeyPair::from_seed(seed).unwrap().public_key(), public);
    }
}

#[test]
fn unknown_kind_is_a_usage_error() {
    let out = lattice(&["keys", "gen", "wizard"], b"");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("error:"));
}
