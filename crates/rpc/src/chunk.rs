//! Large bodies through the JetStream object store, exactly as wasmCloud 0.82 moves them
//! (PROTOCOL.md §8): bucket = the lattice name (created with the default configuration
//! when it cannot be opened), object = the invocation id for a request body and
//! `{id}-r` for a response body; the message itself then carries an empty `msg` and the
//! real `content_length`. The reader deletes the object after reading it.
//!
//! The rules (threshold, names, extra time) live in [`lattice_proto::chunk`]; this module
//! only does the I/O. The bucket handle is opened once per client or server and cached.

use async_nats::jetstream::{self, object_store::ObjectStore};
use futures::FutureExt;
use futures::future::BoxFuture;
use tokio::io::AsyncReadExt;
use tokio::sync::OnceCell;

use crate::error::RpcError;

/// A lazily opened handle on the lattice's object-store bucket.
pub(crate) struct ChunkStore {
    js: jetstream::Context,
    bucket: String,
    store: OnceCell<ObjectStore>,
}

impl std::fmt::Debug for ChunkStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChunkStore").field("bucket", &self.bucket).finish_non_exhaustive()
    }
}

impl ChunkStore {
    /// A store for `bucket` (the lattice name), optionally in a JetStream domain.
    pub(crate) fn new(nats: async_nats::Client, bucket: &str, domain: Option<&str>) -> Self {
        let js = match domain {
            Some(d) => jetstream::with_domain(nats, d),
            None => jetstream::new(nats),
        };
        Self { js, bucket: bucket.to_owned(), store: OnceCell::new() }
    }

    async fn store(&self) -> Result<&ObjectStore, RpcError> {
        self.store
            .get_or_try_init(|| async {
                match self.js.get_object_store(&self.bucket).await {
                    Ok(store) => Ok(store),
                    Err(get_err) => {
                        tracing::debug!(bucket = %self.bucket, error = %get_err, "object store bucket missing; creating it");
                        let config = jetstream::object_store::Config { bucket: self.bucket.clone(), ..Default::default() };
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
    /// A failed delete is only logged (as 0.82 does): the body was read.
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
        let mut object = store.get(name).await.map_err(|e| RpcError::ObjectStore {
            op: "get",
            object: name.to_owned(),
            source: e.into(),
        })?;
        let mut body = Vec::with_capacity(usize::try_from(expected_len).unwrap_or(0).min(64 << 20));
        object.read_to_end(&mut body).await.map_err(|e| RpcError::ObjectStore {
            op: "read",
            object: name.to_owned(),
            source: e.into(),
        })?;
        if let Err(e) = store.delete(name).await {
            tracing::warn!(object = name, bucket = %self.bucket, error = %lattice_proto::chain(&e), "could not delete a chunked body after reading it");
        }
        if body.len() as u64 != expected_len {
            return Err(RpcError::InvalidResponse(format!(
                "chunked body '{name}' has {} bytes, content_length says {expected_len}",
                body.len()
            )));
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
