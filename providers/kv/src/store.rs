//! How key-value data lives in a JetStream KV bucket: key encoding, the stored envelope,
//! and compare-and-swap updates.
//!
//! **Keys.** Actors use any string as a key; JetStream KV keys allow only
//! `[-/_=.A-Za-z0-9]` and treat `.` as a hierarchy separator. A key is stored under an
//! injective escape: ASCII letters, digits, `_` and `-` stay as they are, every other
//! UTF-8 byte becomes `=XX` (upper-case hex); the empty key is `=`. So `user:1` is stored
//! as `user=3A1`.
//!
//! **Values.** Each entry is a small JSON document saying what it holds, so strings,
//! lists and sets share one key space (like Redis, which the 0.82 keyvalue contract was
//! modelled on) and a type mismatch is a clear error rather than garbage:
//! `{"t":"string","v":"…","exp":…}`, `{"t":"list","v":[…]}`, `{"t":"set","v":[…]}`.
//!
//! **Expiry.** nats-server 2.9 has no per-key TTL (it came in 2.11), so `Set` with
//! `expires` stores the deadline (`exp`, milliseconds since the Unix epoch) with the value;
//! an entry past its deadline reads as absent everywhere, and the provider's sweeper
//! deletes it at its deadline ([`crate::expiry`]).
//!
//! **Atomicity.** Read-modify-write operations (Increment, List*, Set*) write with the
//! revision they read (`update`, i.e. `Nats-Expected-Last-Subject-Sequence`) and retry on
//! conflict, so concurrent callers — even through several provider instances — never lose
//! an update.

use std::collections::BTreeSet;
use std::time::{SystemTime, UNIX_EPOCH};

use async_nats::jetstream::kv::{self, Operation, UpdateErrorKind};
use bytes::Bytes;
use lattice_rpc::jetstream::Replicas;
use serde::{Deserialize, Serialize};

/// How many times a read-modify-write is retried after losing a race.
const MAX_CAS_ATTEMPTS: usize = 64;

/// A key-value operation that failed; the text goes back to the actor.
#[derive(Debug, thiserror::Error)]
pub(crate) enum KvError {
    /// The key holds another type (e.g. `ListAdd` on a string).
    #[error("WRONGTYPE: key '{key}' holds a {found}, not a {wanted}")]
    WrongType {
        /// The actor's key.
        key: String,
        /// What it holds.
        found: &'static str,
        /// What the operation needs.
        wanted: &'static str,
    },
    /// `Increment` on a value that is not a 32-bit integer, or an overflow.
    #[error("value of key '{key}' is not an integer or out of range: {reason}")]
    NotAnInteger {
        /// The actor's key.
        key: String,
        /// Why.
        reason: String,
    },
    /// The stored bytes are not one of Lattice's envelopes (written by something else).
    #[error("key '{key}' holds data lattice-kv did not write: {reason}")]
    Corrupt {
        /// The actor's key.
        key: String,
        /// The parser's explanation.
        reason: String,
    },
    /// Too many concurrent writers to the same key.
    #[error("key '{0}' is too contended: gave up after {MAX_CAS_ATTEMPTS} attempts")]
    Contended(String),
    /// JetStream failed.
    #[error("JetStream {op} failed for key '{key}': {reason}")]
    JetStream {
        /// What was being done.
        op: &'static str,
        /// The actor's key.
        key: String,
        /// The async-nats error.
        reason: String,
    },
}

/// What a key holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "lowercase")]
pub(crate) enum Value {
    /// A string, optionally expiring (ms since the Unix epoch).
    String {
        /// The value.
        v: String,
        /// The deadline, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        exp: Option<u64>,
    },
    /// A list of strings.
    List {
        /// The items, in order.
        v: Vec<String>,
    },
    /// A set of strings (kept sorted).
    Set {
        /// The members.
        v: BTreeSet<String>,
    },
}

impl Value {
    /// The type's name in error messages.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Value::String { .. } => "string",
            Value::List { .. } => "list",
            Value::Set { .. } => "set",
        }
    }

    fn encode(&self) -> Bytes {
        // Serialising strings and sequences to JSON cannot fail.
        Bytes::from(serde_json::to_vec(self).unwrap_or_default())
    }

    /// Whether this value has expired at `now_ms`.
    pub(crate) fn expired(&self, now_ms: u64) -> bool {
        matches!(self, Value::String { exp: Some(exp), .. } if *exp <= now_ms)
    }
}

/// Milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// The JetStream KV key for an actor's key (see the module docs).
pub(crate) fn encode_key(key: &str) -> String {
    if key.is_empty() {
        return "=".to_owned();
    }
    let mut out = String::with_capacity(key.len());
    for b in key.bytes() {
        if b.is_ascii_alphanumeric() || b == b'_' || b == b'-' {
            out.push(char::from(b));
        } else {
            out.push('=');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0x0f)]));
        }
    }
    out
}

const HEX: &[u8; 16] = b"0123456789ABCDEF";

/// The actor's key for a stored key; `None` for keys this provider did not write.
pub(crate) fn decode_key(stored: &str) -> Option<String> {
    if stored == "=" {
        return Some(String::new());
    }
    let b = stored.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'=' {
            let hex = stored.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// One bucket, as the operations use it.
#[derive(Clone, Debug)]
pub(crate) struct Bucket {
    store: kv::Store,
    name: String,
}

/// A key's current state: its value (if present and not expired) and the revision to
/// write against (0 when the key never existed).
#[derive(Debug)]
pub(crate) struct Current {
    pub(crate) value: Option<Value>,
    pub(crate) revision: u64,
    /// An expired value is still stored (a delete should remove it).
    pub(crate) stale: bool,
}

/// What a read-modify-write decides.
pub(crate) enum Change<T> {
    /// Write this value, then return `T`.
    Put(Value, T),
    /// Delete the key (if present), then return `T`.
    Delete(T),
    /// Change nothing; return `T`.
    Keep(T),
}

impl Bucket {
    /// Open `name`, creating it (history 1, file storage, `replicas` copies) if it does not
    /// exist, and bringing an existing one to `replicas` copies
    /// ([`lattice_rpc::jetstream::open_kv`], the one place for the bucket's configuration).
    pub(crate) async fn open(
        js: &async_nats::jetstream::Context,
        name: &str,
        replicas: Replicas,
    ) -> Result<Self, lattice_rpc::RpcError> {
        let store = lattice_rpc::jetstream::open_kv(js, name, replicas).await?;
        Ok(Self { store, name: name.to_owned() })
    }

    /// The bucket's name.
    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    fn js_err(op: &'static str, key: &str, e: impl std::fmt::Display) -> KvError {
        KvError::JetStream { op, key: key.to_owned(), reason: e.to_string() }
    }

    /// Read a key (expired values read as absent).
    pub(crate) async fn read(&self, key: &str) -> Result<Current, KvError> {
        self.read_stored(&encode_key(key), key).await
    }

    async fn read_stored(&self, stored: &str, key: &str) -> Result<Current, KvError> {
        let entry = self.store.entry(stored).await.map_err(|e| Self::js_err("get", key, e))?;
        let Some(entry) = entry else { return Ok(Current { value: None, revision: 0, stale: false }) };
        if entry.operation != Operation::Put {
            return Ok(Current { value: None, revision: entry.revision, stale: false });
        }
        let value: Value = serde_json::from_slice(&entry.value)
            .map_err(|e| KvError::Corrupt { key: key.to_owned(), reason: e.to_string() })?;
        let stale = value.expired(now_ms());
        Ok(Current { value: (!stale).then_some(value), revision: entry.revision, stale })
    }

    /// Write unconditionally.
    pub(crate) async fn put(&self, key: &str, value: &Value) -> Result<u64, KvError> {
        self.store.put(encode_key(key), value.encode()).await.map_err(|e| Self::js_err("put", key, e))
    }

    /// Read-modify-write `key` with `f`, retrying when another writer got there first.
    pub(crate) async fn modify<T>(
        &self,
        key: &str,
        mut f: impl FnMut(Option<Value>) -> Result<Change<T>, KvError>,
    ) -> Result<T, KvError> {
        let stored = encode_key(key);
        for _ in 0..MAX_CAS_ATTEMPTS {
            let current = self.read_stored(&stored, key).await?;
            let stored_value = current.value.is_some() || current.stale;
            let outcome = match f(current.value)? {
                Change::Keep(t) => return Ok(t),
                Change::Put(value, t) => match self.store.update(&stored, value.encode(), current.revision).await {
                    Ok(_) => return Ok(t),
                    Err(e) if e.kind() == UpdateErrorKind::WrongLastRevision => continue,
                    Err(e) => Err(Self::js_err("update", key, e)),
                },
                Change::Delete(t) => {
                    if !stored_value {
                        return Ok(t);
                    }
                    match self.store.delete_expect_revision(&stored, Some(current.revision)).await {
                        Ok(()) => return Ok(t),
                        Err(e) if is_wrong_revision(&e) => continue,
                        Err(e) => Err(Self::js_err("delete", key, e)),
                    }
                }
            };
            return outcome;
        }
        Err(KvError::Contended(key.to_owned()))
    }

    /// Delete `stored` if it still holds revision `revision` (the sweeper's delete).
    pub(crate) async fn delete_if_revision(&self, stored: &str, revision: u64) -> bool {
        self.store.delete_expect_revision(stored, Some(revision)).await.is_ok()
    }

    /// Every stored key (raw, encoded form).
    pub(crate) async fn stored_keys(&self) -> Result<Vec<String>, KvError> {
        use futures::TryStreamExt;
        let keys = self.store.keys().await.map_err(|e| Self::js_err("keys", "*", e))?;
        keys.try_collect().await.map_err(|e| Self::js_err("keys", "*", e))
    }

    /// The raw entry of a stored key: its value and revision, if it is a live put.
    pub(crate) async fn raw_entry(&self, stored: &str) -> Option<(Value, u64)> {
        let entry = self.store.entry(stored).await.ok()??;
        if entry.operation != Operation::Put {
            return None;
        }
        let value = serde_json::from_slice(&entry.value).ok()?;
        Some((value, entry.revision))
    }
}

fn is_wrong_revision(e: &kv::DeleteError) -> bool {
    // async-nats reports a failed expected-revision delete as a publish/ack error whose
    // text carries JetStream's "wrong last sequence" (error code 10071).
    let text = e.to_string();
    text.contains("wrong last sequence") || text.contains("10071")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    #[test]
    fn keys_round_trip_and_are_valid_jetstream_keys() {
        for k in ["plain", "user:1", "a.b", "", "=", "ünï cödé", "a/b*c>d", "-_-"] {
            let enc = encode_key(k);
            assert!(enc.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_=".contains(&b)), "{k:?} -> {enc:?}");
            assert_eq!(decode_key(&enc).as_deref(), Some(k), "{enc}");
        }
        assert_eq!(encode_key("user:1"), "user=3A1");
        assert_ne!(encode_key("a=3A"), encode_key("a:"));
        assert_eq!(decode_key("bad=Z"), None);
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn stale_revisions_are_detected_on_nats_2_9() {
        let server = lattice_test_support::NatsServer::start();
        let nats = async_nats::connect(server.url()).await.unwrap();
        let js = async_nats::jetstream::new(nats);
        let bucket = Bucket::open(&js, "cas_test", Replicas::ONE).await.unwrap();
        // Opening again finds the existing bucket.
        let bucket2 = Bucket::open(&js, "cas_test", Replicas::ONE).await.unwrap();
        let first = bucket.put("k", &Value::String { v: "1".into(), exp: None }).await.unwrap();
        bucket2.put("k", &Value::String { v: "2".into(), exp: None }).await.unwrap();
        let e = bucket.store.delete_expect_revision("k", Some(first)).await.unwrap_err();
        assert!(is_wrong_revision(&e), "{e}");
        assert!(!bucket.delete_if_revision("k", first).await);
        let current = bucket.read("k").await.unwrap();
        assert_eq!(current.value, Some(Value::String { v: "2".into(), exp: None }));
        assert!(bucket.delete_if_revision("k", current.revision).await);
        let gone = bucket.read("k").await.unwrap();
        assert!(gone.value.is_none() && !gone.stale && gone.revision > current.revision);
    }

    #[test]
    fn envelope_is_readable_json() {
        let v = Value::String { v: "hi".into(), exp: None };
        assert_eq!(&v.encode()[..], br#"{"t":"string","v":"hi"}"#);
        let l = Value::List { v: vec!["a".into()] };
        assert_eq!(&l.encode()[..], br#"{"t":"list","v":["a"]}"#);
        assert!(Value::String { v: String::new(), exp: Some(5) }.expired(5));
        assert!(!Value::String { v: String::new(), exp: Some(6) }.expired(5));
    }
}
