//! The 0.82 transcript (`tests/vectors/host082/transcript.jsonl`), loaded.

use serde_json::Value;

/// The host, actor and provider keys of the transcript.
pub(crate) const HOST: &str = "NBJF4DR4L4VUVFJ345MAGAF5IERRB5SPUHDLTO5B2NITTEM3TJHEEN55";
pub(crate) const ACTOR: &str = "MDX7K4GGDSGEI7URO3BG5TAJMN5QNI52U666VRPDHYKZQETUKQNB4QUU";
pub(crate) const PROVIDER: &str = "VAZF7OUZ4SHKHXYQWDUTICQEKFMSK22QUPCLK7EO66NK37UATOP62J3U";

/// One message of the transcript.
#[derive(Debug, Clone)]
pub(crate) struct Msg {
    /// Line index (0-based).
    pub(crate) index: usize,
    pub(crate) subject: String,
    pub(crate) headers: Option<Value>,
    /// UTF-8 payload, if the message had one (binary payloads are not used here).
    pub(crate) payload: Option<String>,
    /// UTF-8 reply payloads.
    pub(crate) replies: Vec<String>,
}

impl Msg {
    pub(crate) fn payload(&self) -> &[u8] {
        self.payload.as_deref().unwrap_or_default().as_bytes()
    }
}

pub(crate) fn transcript() -> Vec<Msg> {
    include_str!("../vectors/host082/transcript.jsonl")
        .lines()
        .enumerate()
        .map(|(index, line)| {
            let v: Value = serde_json::from_str(line).unwrap();
            let replies = v
                .get("replies")
                .and_then(Value::as_array)
                .map(|r| r.iter().filter_map(|r| r.get("payload")?.as_str().map(str::to_owned)).collect())
                .unwrap_or_default();
            Msg {
                index,
                subject: v["subject"].as_str().unwrap().to_owned(),
                headers: v.get("headers").cloned(),
                payload: v.get("payload").and_then(Value::as_str).map(str::to_owned),
                replies,
            }
        })
        .collect()
}

/// The first message on `subject`.
pub(crate) fn first(msgs: &[Msg], subject: &str) -> Msg {
    msgs.iter().find(|m| m.subject == subject).unwrap_or_else(|| panic!("no message on {subject}")).clone()
}

/// JSON text as a value.
pub(crate) fn value(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).unwrap()
}
