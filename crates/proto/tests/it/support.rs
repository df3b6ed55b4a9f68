//! Loading the golden vectors copied from ../shared/vectors.

use std::path::PathBuf;

use serde_json::Value;

pub(crate) fn vector(name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/vectors").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("parsing {}: {e}", path.display()))
}

pub(crate) fn hex(v: &Value) -> Vec<u8> {
    let s = v.as_str().unwrap_or_else(|| panic!("not a hex string: {v}"));
    data_encoding::HEXLOWER_PERMISSIVE.decode(s.as_bytes()).expect("hex")
}

pub(crate) fn s(v: &Value) -> &str {
    v.as_str().unwrap_or_else(|| panic!("not a string: {v}"))
}

pub(crate) const CASES: [&str; 4] = ["actor_to_provider", "provider_to_actor", "actor_to_actor", "empty_msg"];
