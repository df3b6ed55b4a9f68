//! JetStream storage that every Lattice process opens the same way (issue 17): the KV
//! buckets (`LATTICEDATA_{lattice}`, the kv provider's buckets) and the chunking object
//! store (PROTOCOL.md §8), created with a configured replica count, and existing ones —
//! including those a 0.82 host created with one replica — updated to it.
//!
//! One place for the policy: the KV stream configuration 0.82's `create_key_value` would
//! use ([`kv_stream_config`]), [`Replicas`] (what JetStream allows: 1 to 5), and
//! [`ensure_replicas`], which logs every change it makes. On a single nats-server only one
//! replica is possible; on a 3-node cluster three replicas mean losing a node loses no
//! links and no data (a new stream leader is elected, which nats-server 2.9 takes seconds
//! to do).

use std::time::Duration;

use async_nats::jetstream::context::GetStreamErrorKind;
use async_nats::jetstream::{Context, ErrorCode, kv, object_store, stream};

use lattice_proto::chunk::DEFAULT_CHUNK_TTL;

use crate::error::RpcError;

/// How many copies of a stream JetStream keeps: 1 to 5 (its limit).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Replicas(u8);

impl Replicas {
    /// One copy: the default, and all a single nats-server can hold.
    pub const ONE: Replicas = Replicas(1);
    /// The most JetStream allows.
    pub const MAX: usize = 5;

    /// `n` replicas, if JetStream allows that many.
    pub fn new(n: usize) -> Result<Self, RpcError> {
        match u8::try_from(n) {
            Ok(r) if (1..=Self::MAX).contains(&n) => Ok(Replicas(r)),
            _ => Err(RpcError::JetStream {
                op: "configure",
                name: format!("{n} replicas"),
                source: format!("a stream has 1 to {} replicas", Self::MAX).into(),
            }),
        }
    }

    /// The count.
    pub fn get(self) -> usize {
        usize::from(self.0)
    }
}

impl Default for Replicas {
    fn default() -> Self {
        Replicas::ONE
    }
}

impl std::fmt::Display for Replicas {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::str::FromStr for Replicas {
    type Err = RpcError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let n: usize = s.trim().parse().map_err(|e: std::num::ParseIntError| RpcError::JetStream {
            op: "configure",
            name: format!("replicas '{s}'"),
            source: e.into(),
        })?;
        Replicas::new(n)
    }
}

/// What [`ensure_replicas`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplicasChange {
    /// The stream already had the configured count.
    Unchanged,
    /// The stream was updated.
    Updated {
        /// Its count before.
        from: usize,
        /// Its count now.
        to: usize,
    },
}

/// The stream of KV bucket `bucket` as 0.82's `create_key_value` makes it (history 1, file
/// storage, direct get, roll-up, `discard: new`), with `replicas` copies.
pub fn kv_stream_config(bucket: &str, replicas: Replicas) -> stream::Config {
    stream::Config {
        name: format!("KV_{bucket}"),
        subjects: vec![format!("$KV.{bucket}.>")],
        max_messages_per_subject: 1,
        storage: stream::StorageType::File,
        allow_rollup: true,
        deny_delete: true,
        deny_purge: false,
        allow_direct: true,
        num_replicas: replicas.get(),
        discard: stream::DiscardPolicy::New,
        ..Default::default()
    }
}

fn js_err(op: &'static str, name: &str, e: impl Into<crate::error::BoxError>) -> RpcError {
    RpcError::JetStream { op, name: name.to_owned(), source: e.into() }
}

/// Open KV bucket `bucket`, creating it with `replicas` copies if it does not exist, and
/// bring an existing one to `replicas` copies ([`ensure_replicas`]).
///
/// The stream is created directly rather than with async-nats' `create_key_value`: that
/// helper first asks for the account's JetStream info, whose reply from nats-server 2.9
/// lacks fields async-nats requires. Another process may create it at the same moment:
/// an identical configuration is accepted, and the lookup afterwards finds it either way.
pub async fn open_kv(js: &Context, bucket: &str, replicas: Replicas) -> Result<kv::Store, RpcError> {
    let store = match js.get_key_value(bucket).await {
        Ok(store) => store,
        Err(_) => {
            let created = js.get_or_create_stream(kv_stream_config(bucket, replicas)).await.map(drop);
            match js.get_key_value(bucket).await {
                Ok(store) => store,
                Err(e) => {
                    return Err(match created {
                        Err(c) => js_err("create", bucket, c),
                        Ok(()) => js_err("open", bucket, e),
                    });
                }
            }
        }
    };
    ensure_replicas(js, &format!("KV_{bucket}"), replicas).await?;
    Ok(store)
}

/// Bring KV bucket `bucket` to `replicas` copies if it exists; `Ok(None)` when it does not.
pub async fn ensure_kv_replicas(
    js: &Context,
    bucket: &str,
    replicas: Replicas,
) -> Result<Option<ReplicasChange>, RpcError> {
    let stream = format!("KV_{bucket}");
    match js.get_stream(&stream).await {
        Ok(_) => ensure_replicas(js, &stream, replicas).await.map(Some),
        Err(e) if matches!(e.kind(), GetStreamErrorKind::JetStream(js) if js.error_code() == ErrorCode::STREAM_NOT_FOUND) => {
            Ok(None)
        }
        Err(e) => Err(js_err("look up", &stream, e)),
    }
}

/// The configuration of object store `bucket` (the chunking store of a lattice is named
/// after it; the stream is `OBJ_{bucket}`, as 0.82 names it): `replicas` copies, objects
/// kept at most `ttl` (the stream's `max_age`; 0.82 sets none, which only 0.82 readers
/// that wait longer than `ttl` could notice — none do, a chunked call waits 13 s extra).
pub fn object_store_config(bucket: &str, replicas: Replicas, ttl: Duration) -> object_store::Config {
    object_store::Config { bucket: bucket.to_owned(), num_replicas: replicas.get(), max_age: ttl, ..Default::default() }
}

/// Open object store `bucket` (the chunking store of a lattice is named after it),
/// creating it with `replicas` copies and the default chunk TTL
/// ([`lattice_proto::chunk::DEFAULT_CHUNK_TTL`]) if it does not exist, and bring an
/// existing one to both (see [`open_chunk_store`]).
pub async fn open_object_store(
    js: &Context,
    bucket: &str,
    replicas: Replicas,
) -> Result<object_store::ObjectStore, RpcError> {
    open_chunk_store(js, bucket, replicas, DEFAULT_CHUNK_TTL).await
}

/// Open object store `bucket`, creating it with `replicas` copies and objects kept at
/// most `ttl`, and bring an existing one — also one a 0.82 host created without a TTL —
/// to both ([`ensure_replicas`], [`ensure_max_age`]).
pub async fn open_chunk_store(
    js: &Context,
    bucket: &str,
    replicas: Replicas,
    ttl: Duration,
) -> Result<object_store::ObjectStore, RpcError> {
    let store = match js.get_object_store(bucket).await {
        Ok(store) => store,
        Err(_) => {
            let config = object_store_config(bucket, replicas, ttl);
            let created = js.create_object_store(config).await;
            match created {
                Ok(store) => store,
                // Another process may have created it meanwhile.
                Err(c) => js.get_object_store(bucket).await.map_err(|_| js_err("create", bucket, c))?,
            }
        }
    };
    ensure_replicas(js, &format!("OBJ_{bucket}"), replicas).await?;
    ensure_max_age(js, &format!("OBJ_{bucket}"), ttl).await?;
    Ok(store)
}

/// Give stream `stream` a `max_age` of `max_age` if it has another one (logged at info
/// level); `true` when it was changed.
pub async fn ensure_max_age(js: &Context, stream: &str, max_age: Duration) -> Result<bool, RpcError> {
    let mut handle = js.get_stream(stream).await.map_err(|e| js_err("look up", stream, e))?;
    let info = handle.info().await.map_err(|e| js_err("read the info of", stream, e))?;
    if info.config.max_age == max_age {
        return Ok(false);
    }
    let from = info.config.max_age;
    let mut config = info.config.clone();
    config.max_age = max_age;
    js.update_stream(config).await.map_err(|e| js_err("update the max age of", stream, e))?;
    tracing::info!(stream, ?from, to = ?max_age, "JetStream stream max age updated");
    Ok(true)
}

/// Give stream `stream` `replicas` copies if it has another count (logged at info level).
pub async fn ensure_replicas(js: &Context, stream: &str, replicas: Replicas) -> Result<ReplicasChange, RpcError> {
    let mut handle = js.get_stream(stream).await.map_err(|e| js_err("look up", stream, e))?;
    let info = handle.info().await.map_err(|e| js_err("read the info of", stream, e))?;
    let from = info.config.num_replicas;
    let to = replicas.get();
    if from == to {
        return Ok(ReplicasChange::Unchanged);
    }
    let mut config = info.config.clone();
    config.num_replicas = to;
    js.update_stream(config).await.map_err(|e| js_err("update the replicas of", stream, e))?;
    tracing::info!(stream, from, to, "JetStream stream replicas updated");
    Ok(ReplicasChange::Updated { from, to })
}

/// The number of copies stream `stream` has now.
pub async fn stream_replicas(js: &Context, stream: &str) -> Result<usize, RpcError> {
    let mut handle = js.get_stream(stream).await.map_err(|e| js_err("look up", stream, e))?;
    let info = handle.info().await.map_err(|e| js_err("read the info of", stream, e))?;
    Ok(info.config.num_replicas)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replicas_are_one_to_five() {
        assert_eq!(Replicas::default(), Replicas::ONE);
        assert_eq!(Replicas::new(3).map(Replicas::get).ok(), Some(3));
        assert!(Replicas::new(0).is_err());
        assert!(Replicas::new(6).is_err());
        assert!(Replicas::new(300).is_err());
        assert_eq!("5".parse::<Replicas>().map(Replicas::get).ok(), Some(5));
        assert!("x".parse::<Replicas>().is_err());
        assert!("0".parse::<Replicas>().is_err());
    }

    #[test]
    fn the_kv_stream_is_the_one_082_makes_with_the_replicas_asked_for() {
        let c = kv_stream_config("LATTICEDATA_default", Replicas::new(3).unwrap_or_default());
        assert_eq!(c.name, "KV_LATTICEDATA_default");
        assert_eq!(c.subjects, ["$KV.LATTICEDATA_default.>"]);
        assert_eq!((c.max_messages_per_subject, c.num_replicas), (1, 3));
        assert!(c.allow_rollup && c.deny_delete && c.allow_direct && !c.deny_purge);
        assert_eq!(c.discard, stream::DiscardPolicy::New);
    }
}
