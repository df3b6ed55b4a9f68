//! The real 0.82 host's transcript (`vectors/host082/transcript.jsonl`): the shapes of its
//! replies and events, to compare Lattice's against key by key.

#![allow(dead_code)]

use std::collections::BTreeSet;

use serde_json::Value;

use crate::support::vectors_dir;

/// Every message of the transcript, in order.
pub fn messages() -> Vec<Value> {
    let path = vectors_dir().join("transcript.jsonl");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!("reading {} (set LATTICE_HOST082_VECTORS to the vectors/host082 directory): {e}", path.display())
    });
    text.lines().filter(|l| !l.trim().is_empty()).map(|l| serde_json::from_str(l).unwrap()).collect()
}

/// The bytes of a message (`payload` as UTF-8 or `payload_hex`).
pub fn payload(m: &Value) -> Vec<u8> {
    if let Some(hex) = m.get("payload_hex").and_then(Value::as_str) {
        return (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap()).collect();
    }
    m["payload"].as_str().unwrap_or_default().as_bytes().to_vec()
}

/// The first message whose subject satisfies `pred`.
pub fn find(pred: impl Fn(&str) -> bool) -> Value {
    messages().into_iter().find(|m| pred(m["subject"].as_str().unwrap())).expect("no such message in the transcript")
}

/// The first reply (parsed JSON) to a request whose subject ends with `suffix`, among
/// requests that got a non-empty reply.
pub fn reply_json(suffix: &str) -> Value {
    let m = messages()
        .into_iter()
        .find(|m| {
            m["subject"].as_str().unwrap().ends_with(suffix)
                && m["replies"]
                    .as_array()
                    .is_some_and(|r| r.first().is_some_and(|r| r["payload"].as_str().is_some_and(|p| p.len() > 20)))
        })
        .unwrap_or_else(|| panic!("no reply to *{suffix} in the transcript"));
    serde_json::from_str(m["replies"][0]["payload"].as_str().unwrap()).unwrap()
}

/// The `data` of the first event `name` the 0.82 host published.
pub fn event_data(name: &str) -> Value {
    let m = find(|s| s == format!("wasmbus.evt.default.{name}"));
    let event: Value = serde_json::from_str(m["payload"].as_str().unwrap()).unwrap();
    event["data"].clone()
}

/// The keys of a JSON object.
pub fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object().map(|o| o.keys().cloned().collect()).unwrap_or_default()
}

/// Keys whose values are maps keyed by the user, not by the protocol.
const DYNAMIC_MAPS: &[&str] = &["labels", "annotations", "values", "constraints", "env_values"];

/// Assert that `ours` has exactly the keys the 0.82 host's `theirs` has (recursively for
/// nested objects; arrays compare their first elements), naming the path on failure.
pub fn assert_same_shape(what: &str, ours: &Value, theirs: &Value) {
    match (ours, theirs) {
        (Value::Object(a), Value::Object(b)) => {
            let (ka, kb) = (keys(ours), keys(theirs));
            assert_eq!(ka, kb, "{what}: Lattice's keys differ from the 0.82 host's");
            for k in ka {
                if DYNAMIC_MAPS.contains(&k.as_str()) {
                    // Maps keyed by the user (labels, annotations, link values): only their type.
                    assert!(
                        a[&k].is_object() || a[&k].is_null(),
                        "{what}.{k}: Lattice sends {} where the 0.82 host sends a map",
                        a[&k]
                    );
                    continue;
                }
                assert_same_shape(&format!("{what}.{k}"), &a[&k], &b[&k]);
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            if let (Some(x), Some(y)) = (a.first(), b.first()) {
                assert_same_shape(&format!("{what}[0]"), x, y);
            }
        }
        // A null on either side (an absent optional) says nothing about the shape.
        (Value::Null, _) | (_, Value::Null) => {}
        (a, b) => assert_eq!(
            std::mem::discriminant(a),
            std::mem::discriminant(b),
            "{what}: Lattice sends {a}, the 0.82 host sent {b} (a different JSON type)"
        ),
    }
}
