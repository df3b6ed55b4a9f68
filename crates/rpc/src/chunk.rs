//! Large bodies through the JetStream object store, exactly as wasmCloud 0.82 moves them
//! (PROTOCOL.md §8): bucket = the lattice name (created when it cannot be opened), object =
//! the invocation id for a request body and `{id}-r` for a response body; the message
//! itself then carries an empty `msg` and the real `content_length`. The reader deletes the
//! object after reading it.
//!
//! Stricter than 0.82, because `content_length` is not signed and anyone who may publish
//! on `$O.{lattice}.>` can put an object under any name (issue 16):
//! - the store is created with a `max_age` ([`DEFAULT_CHUNK_TTL`], 5 minutes), so objects
//!   nobody reads disappear; existing stores get it through
//!   [`crate::jetstream::open_object_store`] at host start;
//! - a reader compares the object's size *from its metadata* with the expected length
//!   before reading a single chunk, and then reads at most that many bytes (one more, to
//!   notice a lie in the metadata), never to the end of whatever is there;
//! - a caller whose chunked call times out (or fails) deletes its request object.
//!
//! The rules (threshold, names, extra time, TTL) live in [`lattice_proto::chunk`]; this
//! module only does the I/O. The bucket handle is opened once per client or server and cached.

use std::time::Duration;

use async_nats::jetstream::{self, object_store::ObjectStore};
use futures::FutureExt;
use futures::future::BoxFuture;
use tokio::io::AsyncReadExt;

use tokio::sync::OnceCell;

#[cfg(doc)]
use lattice_proto::chunk::DEFAULT_CHUNK_TTL;

use crate::error::RpcError;

/// A lazily opened handle on the lattice's object-store bucket.
pub(crate) struct ChunkStore {
    js: jetstream::Context,
    bucket: String,
    ttl: Duration,
    store: OnceCell<ObjectStore>,
}

impl std::fmt::Debug for ChunkStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChunkStore").field("bucket", &self.bucket).finish_non_exhaustive()
    }
}

impl ChunkStore {
    /// A store for `bucket` (the lattice name), optionally in a JetStream domain; when this
    /// handle creates the bucket, its objects live at most `ttl`.
    pub(crate) fn new(nats: async_nats::Client, bucket: &str, domain: Option<&str>, ttl: Duration) -> Self {
        let js = match domain {
            Some(d) => jetstream::with_domain(nats, d),
            None => jetstream::new(nats),
        };
        Self { js, bucket: bucket.to_owned(), ttl, store: OnceCell::new() }
    }

    async fn store(&self) -> Result<&ObjectStore, RpcError> {
        self.store
            .get_or_try_init(|| async {
                match self.js.get_object_store(&self.bucket).await {
                    Ok(store) => Ok(store),
                    Err(get_err) => {
                        tracing::debug!(bucket = %self.bucket, error = %get_err, "object store bucket missing; creating it");
                        let config = crate::jetstream::object_store_config(&self.bucket, crate::jetstream::Replicas::ONE, self.ttl);
                        self.js.create_object_store(config).await.map_err(|e| RpcError::ObjectStore {
                            op: "open",
                            object: self.bucket.clone(),
                            source: e.into(),
                        })
                    }
                }
            })
            .await
    }

    // The public methods box their futures: object-store futures are large, and inlined
    // they would make every call's future (moved on each spawn and poll set-up) large too,
    // though only calls with big bodies ever use them.

    /// Write `body` as object `name` (before the message that refers to it is sent).
    pub(crate) fn put<'a>(&'a self, name: &'a str, body: &'a [u8]) -> BoxFuture<'a, Result<(), RpcError>> {
        self.put_inner(name, body).boxed()
    }

    /// Read object `name`, check that it holds `expected_len` bytes, and delete it.
    /// The size in the object's metadata is compared before any chunk is fetched, and the
    /// read stops after `expected_len + 1` bytes; either mismatch is
    /// [`RpcError::ChunkSize`] (the object is then left to its TTL). A failed delete is
    /// only logged (as 0.82 does): the body was read.
    pub(crate) fn take<'a>(&'a self, name: &'a str, expected_len: u64) -> BoxFuture<'a, Result<Vec<u8>, RpcError>> {
        self.take_inner(name, expected_len).boxed()
    }

    /// Delete object `name`, ignoring failures (clean-up after a call nobody will read).
    pub(crate) fn discard<'a>(&'a self, name: &'a str) -> BoxFuture<'a, ()> {
        self.discard_inner(name).boxed()
    }

    async fn put_inner(&self, name: &str, body: &[u8]) -> Result<(), RpcError> {
        let store = self.store().await?;
        let mut reader = body;
        store.put(name, &mut reader).await.map_err(|e| RpcError::ObjectStore {
            op: "put",
            object: name.to_owned(),
            source: e.into(),
        })?;
        Ok(())
    }

    async fn take_inner(&self, name: &str, expected_len: u64) -> Result<Vec<u8>, RpcError> {
        let store = self.store().await?;
        // `get` reads only the metadata; chunks are fetched (an ordered consumer is
        // created) on the first read, so a wrong size is refused before any of them moves.
        let object = store.get(name).await.map_err(|e| RpcError::ObjectStore {
            op: "get",
            object: name.to_owned(),
            source: e.into(),
        })?;
        let size_error = |size: u64| RpcError::ChunkSize { object: name.to_owned(), size, expected: expected_len };
        let claimed = object.info().size as u64;
        if claimed != expected_len {
            return Err(size_error(claimed));
        }
        // The metadata may lie: read one byte more than expected at most.
        let mut body = Vec::with_capacity(usize::try_from(expected_len).unwrap_or(0).min(64 << 20));
        object
            .take(expected_len.saturating_add(1))
            .read_to_end(&mut body)
            .await
            .map_err(|e| RpcError::ObjectStore { op: "read", object: name.to_owned(), source: e.into() })?;
        if body.len() as u64 != expected_len {
            return Err(size_error(body.len() as u64));
        }
        if let Err(e) = store.delete(name).await {
            tracing::warn!(object = name, bucket = %self.bucket, error = %lattice_proto::chain(&e), "could not delete a chunked body after reading it");
        }
        Ok(body)
    }

    async fn discard_inner(&self, name: &str) {
        if let Ok(store) = self.store().await
            && let Err(e) = store.delete(name).await
        {
            tracing::debug!(object = name, error = %lattice_proto::chain(&e), "could not discard an unread chunked body");
        }
    }
}
