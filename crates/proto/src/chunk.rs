//! Rules for bodies too large for one NATS message (PROTOCOL.md §8).
//!
//! A body longer than [`CHUNK_THRESHOLD_BYTES`] is written to the JetStream object store
//! (bucket = lattice name) before the request is sent; the message carries an empty
//! `msg` and the real `content_length`. Only the rules live here; the I/O is in `lattice-rpc`.

use std::time::Duration;

/// Bodies strictly longer than this are chunked (1024 × 900).
pub const CHUNK_THRESHOLD_BYTES: usize = 1024 * 900;

/// Extra time a chunked call gets (0.82's `CHUNK_RPC_EXTRA_TIME`).
pub const CHUNK_RPC_EXTRA_TIME: Duration = Duration::from_secs(13);

/// How long a chunk object lives in the object store at most (the store's `max_age`):
/// 5 minutes, well beyond the longest a chunked call waits ([`CHUNK_RPC_EXTRA_TIME`] plus
/// the call's own timeout), so that objects nobody reads (a receiver that died, a forged
/// put) disappear on their own. 0.82 creates the store without one; Lattice adds it.
pub const DEFAULT_CHUNK_TTL: Duration = Duration::from_secs(300);

/// The largest body a receiver accepts by default (64 MiB): a chunked invocation whose
/// `content_length` is larger is refused before its object is fetched.
pub const DEFAULT_MAX_BODY_BYTES: u64 = 64 << 20;

/// Whether a body of `len` bytes must go through the object store.
pub fn needs_chunking(len: usize) -> bool {
    len > CHUNK_THRESHOLD_BYTES
}

/// The object name of a chunked request body: the invocation id.
pub fn request_object(invocation_id: &str) -> String {
    invocation_id.to_owned()
}

/// The object name of a chunked response body: `{id}-r`.
pub fn response_object(invocation_id: &str) -> String {
    format!("{invocation_id}-r")
}

/// Whether a received invocation's body is in the object store (`content_length` larger
/// than the inline `msg`; the rule of the SDKs, which also covers the host's rule).
pub fn is_chunked(content_length: u64, inline_len: usize) -> bool {
    content_length > inline_len as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threshold_is_strict() {
        assert!(!needs_chunking(921_600));
        assert!(needs_chunking(921_601));
        assert_eq!(response_object("abc"), "abc-r");
    }
}
