//! The `wasmcloud:keyvalue` operations (interface `KeyValue` 0.1.1) and their msgpack
//! shapes, exactly as the 0.82 compat structs encode them (HOST.md §6): structs are maps
//! keyed by the smithy member names (`listName`, `setName`), scalars are bare msgpack
//! values. `Set` answers msgpack nil (`c0`), as the 0.82-tree providers do.
//!
//! Semantics follow Redis, which the contract was modelled on: one key space for strings,
//! lists and sets (a type mismatch is a `WRONGTYPE` error), `Increment` treats an absent
//! key as 0, an emptied list or set disappears, `ListRange` indices are inclusive and may
//! be negative (counting from the end). `KeyValue.Keys` (in the 0.1.1 smithy, absent from
//! the 0.82 WIT) is offered as an extension.

use std::collections::BTreeSet;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::store::{Bucket, Change, KvError, Value, decode_key, now_ms};

/// Why an operation failed; the text becomes the response's `error`.
#[derive(Debug, thiserror::Error)]
pub(crate) enum OpError {
    /// Not a `KeyValue` operation.
    #[error("unknown operation '{0}' for wasmcloud:keyvalue")]
    Unknown(String),
    /// The request payload does not have the operation's shape.
    #[error("invalid {op} request: {reason}")]
    Decode {
        /// The operation.
        op: &'static str,
        /// The decoder's explanation.
        reason: String,
    },
    /// The store refused or failed.
    #[error("{op}")]
    Store {
        /// The operation.
        op: &'static str,
        /// What went wrong.
        #[source]
        source: KvError,
    },
}

/// `KeyValue.Get`'s answer.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct GetResponse {
    /// The value ("" when absent).
    #[serde(default)]
    pub(crate) value: String,
    /// Whether the key exists.
    #[serde(default)]
    pub(crate) exists: bool,
}

/// `KeyValue.Set`'s request.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct SetRequest {
    /// The key.
    #[serde(default)]
    pub(crate) key: String,
    /// The value.
    #[serde(default)]
    pub(crate) value: String,
    /// Seconds until the key expires; 0 for never.
    #[serde(default)]
    pub(crate) expires: u32,
}

/// `KeyValue.Increment`'s request.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct IncrementRequest {
    /// The key.
    #[serde(default)]
    pub(crate) key: String,
    /// The amount to add.
    #[serde(default)]
    pub(crate) value: i32,
}

/// `KeyValue.ListAdd` / `KeyValue.ListDel`'s request.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ListItemRequest {
    /// The list.
    #[serde(default, rename = "listName")]
    pub(crate) list_name: String,
    /// The item.
    #[serde(default)]
    pub(crate) value: String,
}

/// `KeyValue.ListRange`'s request.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ListRangeRequest {
    /// The list.
    #[serde(default, rename = "listName")]
    pub(crate) list_name: String,
    /// First index, inclusive.
    #[serde(default)]
    pub(crate) start: i32,
    /// Last index, inclusive.
    #[serde(default)]
    pub(crate) stop: i32,
}

/// `KeyValue.SetAdd` / `KeyValue.SetDel`'s request.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct SetItemRequest {
    /// The set.
    #[serde(default, rename = "setName")]
    pub(crate) set_name: String,
    /// The member.
    #[serde(default)]
    pub(crate) value: String,
}

/// `KeyValue.Keys`' request (extension).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct KeysRequest {
    /// A glob (`*`, `?`) the keys must match; all keys when absent.
    #[serde(default, rename = "globExpression", skip_serializing_if = "Option::is_none")]
    pub(crate) glob_expression: Option<String>,
    /// Unused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) config: Option<String>,
}

/// What [`dispatch`] needs to arm expiry timers.
pub(crate) trait Expiries {
    /// `key` in `bucket` expires at `at_ms`.
    fn schedule(&self, bucket: &Bucket, key: &str, at_ms: u64);
}

fn decode<T: DeserializeOwned>(op: &'static str, msg: &[u8]) -> Result<T, OpError> {
    rmp_serde::from_slice(msg).map_err(|e| OpError::Decode { op, reason: e.to_string() })
}

fn encode<T: Serialize + ?Sized>(value: &T) -> Vec<u8> {
    // Writing plain values into a Vec cannot fail.
    rmp_serde::to_vec_named(value).unwrap_or_default()
}

fn wrong(key: &str, found: &Value, wanted: &'static str) -> KvError {
    KvError::WrongType { key: key.to_owned(), found: found.kind(), wanted }
}

/// Run one operation on `bucket`; returns the msgpack response body.
pub(crate) async fn dispatch(
    bucket: &Bucket,
    expiries: &impl Expiries,
    operation: &str,
    msg: &[u8],
) -> Result<Vec<u8>, OpError> {
    // 0.82 sends the bare method; accept a `wasmcloud:keyvalue/` prefix too.
    let method = operation.rsplit_once('/').map_or(operation, |(_, m)| m);
    macro_rules! store {
        ($op:literal, $e:expr) => {
            $e.await.map_err(|source| OpError::Store { op: $op, source })?
        };
    }
    Ok(match method {
        "KeyValue.Get" => {
            let key: String = decode("KeyValue.Get", msg)?;
            let current = store!("KeyValue.Get", bucket.read(&key));
            let response = match current.value {
                None => GetResponse::default(),
                Some(Value::String { v, .. }) => GetResponse { value: v, exists: true },
                Some(other) => {
                    return Err(OpError::Store { op: "KeyValue.Get", source: wrong(&key, &other, "string") });
                }
            };
            encode(&response)
        }
        "KeyValue.Set" => {
            let req: SetRequest = decode("KeyValue.Set", msg)?;
            let exp = (req.expires > 0).then(|| now_ms() + u64::from(req.expires) * 1000);
            store!("KeyValue.Set", bucket.put(&req.key, &Value::String { v: req.value, exp }));
            if let Some(at) = exp {
                expiries.schedule(bucket, &req.key, at);
            }
            encode(&())
        }
        "KeyValue.Del" => {
            let key: String = decode("KeyValue.Del", msg)?;
            let existed = store!("KeyValue.Del", bucket.modify(&key, |v| Ok(Change::Delete(v.is_some()))));
            encode(&existed)
        }
        "KeyValue.Contains" => {
            let key: String = decode("KeyValue.Contains", msg)?;
            let current = store!("KeyValue.Contains", bucket.read(&key));
            encode(&current.value.is_some())
        }
        "KeyValue.Increment" => {
            let req: IncrementRequest = decode("KeyValue.Increment", msg)?;
            let key = req.key.clone();
            let new = store!(
                "KeyValue.Increment",
                bucket.modify(&req.key, |v| {
                    let (old, exp) = match v {
                        None => (0i64, None),
                        Some(Value::String { v, exp }) => {
                            let n = v.trim().parse::<i64>().map_err(|e| KvError::NotAnInteger {
                                key: key.clone(),
                                reason: format!("'{v}': {e}"),
                            })?;
                            (n, exp)
                        }
                        Some(other) => return Err(wrong(&key, &other, "string")),
                    };
                    let new = i32::try_from(old + i64::from(req.value)).map_err(|_| KvError::NotAnInteger {
                        key: key.clone(),
                        reason: format!("{old} + {} overflows a 32-bit integer", req.value),
                    })?;
                    Ok(Change::Put(Value::String { v: new.to_string(), exp }, new))
                })
            );
            encode(&new)
        }
        "KeyValue.ListAdd" => {
            let req: ListItemRequest = decode("KeyValue.ListAdd", msg)?;
            let len = store!(
                "KeyValue.ListAdd",
                bucket.modify(&req.list_name, |v| {
                    let mut items = match v {
                        None => Vec::new(),
                        Some(Value::List { v }) => v,
                        Some(other) => return Err(wrong(&req.list_name, &other, "list")),
                    };
                    items.push(req.value.clone());
                    let len = u32::try_from(items.len()).unwrap_or(u32::MAX);
                    Ok(Change::Put(Value::List { v: items }, len))
                })
            );
            encode(&len)
        }
        "KeyValue.ListDel" => {
            let req: ListItemRequest = decode("KeyValue.ListDel", msg)?;
            let removed = store!(
                "KeyValue.ListDel",
                bucket.modify(&req.list_name, |v| {
                    let mut items = match v {
                        None => return Ok(Change::Keep(false)),
                        Some(Value::List { v }) => v,
                        Some(other) => return Err(wrong(&req.list_name, &other, "list")),
                    };
                    let Some(at) = items.iter().position(|i| *i == req.value) else {
                        return Ok(Change::Keep(false));
                    };
                    items.remove(at);
                    Ok(if items.is_empty() {
                        Change::Delete(true)
                    } else {
                        Change::Put(Value::List { v: items }, true)
                    })
                })
            );
            encode(&removed)
        }
        "KeyValue.ListClear" => {
            let name: String = decode("KeyValue.ListClear", msg)?;
            let existed = store!("KeyValue.ListClear", bucket.modify(&name, |v| clear(&name, v, "list")));
            encode(&existed)
        }
        "KeyValue.ListRange" => {
            let req: ListRangeRequest = decode("KeyValue.ListRange", msg)?;
            let current = store!("KeyValue.ListRange", bucket.read(&req.list_name));
            let items = match current.value {
                None => Vec::new(),
                Some(Value::List { v }) => range(&v, req.start, req.stop).to_vec(),
                Some(other) => {
                    return Err(OpError::Store {
                        op: "KeyValue.ListRange",
                        source: wrong(&req.list_name, &other, "list"),
                    });
                }
            };
            encode(&items)
        }
        "KeyValue.SetAdd" => {
            let req: SetItemRequest = decode("KeyValue.SetAdd", msg)?;
            let added = store!(
                "KeyValue.SetAdd",
                bucket.modify(&req.set_name, |v| {
                    let mut members = match v {
                        None => BTreeSet::new(),
                        Some(Value::Set { v }) => v,
                        Some(other) => return Err(wrong(&req.set_name, &other, "set")),
                    };
                    Ok(if members.insert(req.value.clone()) {
                        Change::Put(Value::Set { v: members }, 1u32)
                    } else {
                        Change::Keep(0u32)
                    })
                })
            );
            encode(&added)
        }
        "KeyValue.SetDel" => {
            let req: SetItemRequest = decode("KeyValue.SetDel", msg)?;
            let removed = store!(
                "KeyValue.SetDel",
                bucket.modify(&req.set_name, |v| {
                    let mut members = match v {
                        None => return Ok(Change::Keep(0u32)),
                        Some(Value::Set { v }) => v,
                        Some(other) => return Err(wrong(&req.set_name, &other, "set")),
                    };
                    if !members.remove(&req.value) {
                        return Ok(Change::Keep(0u32));
                    }
                    Ok(if members.is_empty() {
                        Change::Delete(1u32)
                    } else {
                        Change::Put(Value::Set { v: members }, 1u32)
                    })
                })
            );
            encode(&removed)
        }
        "KeyValue.SetQuery" => {
            let name: String = decode("KeyValue.SetQuery", msg)?;
            let members = store!("KeyValue.SetQuery", read_set(bucket, &name));
            encode(&members.into_iter().collect::<Vec<_>>())
        }
        "KeyValue.SetUnion" => {
            let names: Vec<String> = decode("KeyValue.SetUnion", msg)?;
            let mut union = BTreeSet::new();
            for name in &names {
                union.extend(store!("KeyValue.SetUnion", read_set(bucket, name)));
            }
            encode(&union.into_iter().collect::<Vec<_>>())
        }
        "KeyValue.SetIntersection" => {
            let names: Vec<String> = decode("KeyValue.SetIntersection", msg)?;
            let mut acc: Option<BTreeSet<String>> = None;
            for name in &names {
                let members = store!("KeyValue.SetIntersection", read_set(bucket, name));
                acc = Some(match acc {
                    None => members,
                    Some(a) => a.intersection(&members).cloned().collect(),
                });
            }
            encode(&acc.unwrap_or_default().into_iter().collect::<Vec<_>>())
        }
        "KeyValue.SetClear" => {
            let name: String = decode("KeyValue.SetClear", msg)?;
            let existed = store!("KeyValue.SetClear", bucket.modify(&name, |v| clear(&name, v, "set")));
            encode(&existed)
        }
        "KeyValue.Keys" => {
            let req: KeysRequest = if msg.is_empty() { KeysRequest::default() } else { decode("KeyValue.Keys", msg)? };
            let keys = store!("KeyValue.Keys", live_keys(bucket, req.glob_expression.as_deref()));
            encode(&keys)
        }
        other => return Err(OpError::Unknown(other.to_owned())),
    })
}

/// ListClear / SetClear: delete the key if it holds `wanted`.
fn clear(key: &str, v: Option<Value>, wanted: &'static str) -> Result<Change<bool>, KvError> {
    match v {
        None => Ok(Change::Keep(false)),
        Some(v) if v.kind() == wanted => Ok(Change::Delete(true)),
        Some(other) => Err(wrong(key, &other, wanted)),
    }
}

async fn read_set(bucket: &Bucket, name: &str) -> Result<BTreeSet<String>, KvError> {
    match bucket.read(name).await?.value {
        None => Ok(BTreeSet::new()),
        Some(Value::Set { v }) => Ok(v),
        Some(other) => Err(wrong(name, &other, "set")),
    }
}

/// Every live (present, unexpired) key matching `glob`, sorted.
async fn live_keys(bucket: &Bucket, glob: Option<&str>) -> Result<Vec<String>, KvError> {
    let now = now_ms();
    let mut out = Vec::new();
    for stored in bucket.stored_keys().await? {
        let Some(key) = decode_key(&stored) else { continue };
        if glob.is_some_and(|g| !glob_match(g, &key)) {
            continue;
        }
        if let Some((value, _)) = bucket.raw_entry(&stored).await
            && !value.expired(now)
        {
            out.push(key);
        }
    }
    out.sort();
    Ok(out)
}

/// Redis' `LRANGE` index rules: inclusive, negative counts from the end, clamped.
pub(crate) fn range(items: &[String], start: i32, stop: i32) -> &[String] {
    let len = i64::try_from(items.len()).unwrap_or(i64::MAX);
    let norm = |i: i32| if i < 0 { len + i64::from(i) } else { i64::from(i) };
    let start = norm(start).max(0);
    let stop = norm(stop).min(len - 1);
    if start > stop || start >= len {
        return &[];
    }
    // Both are within 0..len here.
    let (a, b) = (usize::try_from(start).unwrap_or(0), usize::try_from(stop).unwrap_or(0));
    &items[a..=b]
}

/// `*` matches any run, `?` any one character; everything else literally.
pub(crate) fn glob_match(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    fn list(n: usize) -> Vec<String> {
        (0..n).map(|i| i.to_string()).collect()
    }

    #[test]
    fn ranges_follow_lrange() {
        let l = list(5);
        assert_eq!(range(&l, 0, 10), &l[..]);
        assert_eq!(range(&l, 1, 2), &l[1..=2]);
        assert_eq!(range(&l, -2, -1), &l[3..]);
        assert_eq!(range(&l, 3, 1), &[] as &[String]);
        assert_eq!(range(&l, 7, 9), &[] as &[String]);
        assert_eq!(range(&[], 0, -1), &[] as &[String]);
    }

    #[test]
    fn globs() {
        assert!(glob_match("*", "anything"));
        assert!(glob_match("user:*", "user:1"));
        assert!(glob_match("a?c", "abc"));
        assert!(!glob_match("a?c", "abbc"));
        assert!(glob_match("*b*", "abc"));
        assert!(!glob_match("x*", "abc"));
    }

    #[test]
    fn shapes_are_0_82_maps() {
        let bytes = encode(&GetResponse { value: "v".into(), exists: true });
        assert_eq!(bytes, [&[0x82, 0xa5][..], b"value", &[0xa1, b'v', 0xa6], b"exists", &[0xc3]].concat());
        assert_eq!(encode(&()), [0xc0]);
        let req = ListItemRequest { list_name: "l".into(), value: "x".into() };
        assert!(encode(&req).windows(8).any(|w| w == b"listName"));
        let req = SetItemRequest { set_name: "s".into(), value: "x".into() };
        assert!(encode(&req).windows(7).any(|w| w == b"setName"));
    }
}
