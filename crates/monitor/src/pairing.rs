//! Pairing responses with the invocations they answer, for latency and error metrics.
//!
//! Every invocation published with request/reply names a reply subject that is unique to
//! that call (an inbox token), and its one `InvocationResponse` is published there. So
//! calls are paired by **reply subject**, and the response's `invocation_id` is only
//! cross-checked: pairing by id alone would mix up a replayed copy (same id, another
//! inbox) with the original, and cannot pair the `UNKNOWN` answer to an undecodable call.
//!
//! The monitor records a call only once it has been *verified* (a forged invocation must
//! not occupy memory with its attacker-chosen reply subject and operation), and reads
//! replies on another subscription, so a reply is often read before its call is recorded;
//! such a reply waits briefly as an early reply (an orphan) and is paired when the call
//! shows up. Invocations that get no reply are forgotten after [`Pairing::ttl`] and
//! reported as unanswered. Time is an argument (`Instant`).
//!
//! Both waiting rooms have byte budgets, because reply subjects and payloads come from the
//! bus: calls that do not fit are not recorded ([`Pairing::dropped`]); early replies push
//! the oldest ones out, and those pushed out or too big are counted
//! ([`Pairing::early_dropped`]). Bytes of an early reply stay counted until its entry
//! leaves the arrival queue (at most [`ORPHAN_TTL`]), so the budget bounds that queue too.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

/// How long an invocation waits for its response (beyond any Lattice or 0.82 timeout,
/// including the 13 s extra of chunked calls).
pub const DEFAULT_TTL: Duration = Duration::from_secs(60);

/// The default byte budget of the calls waiting for a reply (reply subjects, operations and
/// ids come from the bus, so they are counted by size, not only by number).
pub const DEFAULT_MAX_BYTES: usize = 64 * 1024 * 1024;

/// Bookkeeping bytes counted per waiting call on top of its strings.
const PER_CALL_OVERHEAD: usize = 128;

/// The default byte budget of early replies (reply subject and payload, counted until the
/// entry leaves the arrival queue).
pub const DEFAULT_MAX_EARLY_BYTES: usize = 32 * 1024 * 1024;

/// How long an early reply waits for its invocation.
pub const ORPHAN_TTL: Duration = Duration::from_secs(2);

/// What a reply costs to keep, in bytes (its payload; the subject is counted separately).
pub trait ByteSize {
    /// The bytes it holds.
    fn byte_size(&self) -> usize;
}

impl ByteSize for bytes::Bytes {
    fn byte_size(&self) -> usize {
        self.len()
    }
}

impl ByteSize for &str {
    fn byte_size(&self) -> usize {
        self.len()
    }
}

impl ByteSize for () {
    fn byte_size(&self) -> usize {
        0
    }
}

/// An invocation waiting for its response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingCall {
    /// The operation.
    pub operation: String,
    /// The invocation id.
    pub invocation_id: String,
    /// When the invocation was seen.
    pub seen: Instant,
    /// Extra data the owner keeps with the call (the spy keeps the origin/target).
    pub tag: String,
}

/// A reply seen before its invocation.
#[derive(Debug)]
struct Orphan<R> {
    seen: Instant,
    reply: R,
}

/// Calls waiting for replies, keyed by reply subject. `R` is the reply payload type.
#[derive(Debug)]
pub struct Pairing<R> {
    /// Waiting calls and the bytes counted for each.
    pending: HashMap<String, (PendingCall, usize)>,
    /// (seen, reply subject, bytes counted for it) in arrival order.
    order: VecDeque<(Instant, String, usize)>,
    /// Bytes counted for the entries of `order`.
    bytes: usize,
    max_bytes: usize,
    /// Calls not recorded because the budget was full.
    dropped: u64,
    orphans: HashMap<String, Orphan<R>>,
    /// (seen, reply subject, bytes counted) in arrival order.
    orphan_order: VecDeque<(Instant, String, usize)>,
    /// Bytes counted for the entries of `orphan_order`.
    orphan_bytes: usize,
    max_orphan_bytes: usize,
    /// Early replies pushed out or refused by the budget.
    orphans_dropped: u64,
    ttl: Duration,
}

/// A call and its reply, paired.
#[derive(Debug, PartialEq, Eq)]
pub struct Paired<R> {
    /// The call.
    pub call: PendingCall,
    /// Its reply.
    pub reply: R,
    /// Invocation seen → reply seen (zero if the reply was read first).
    pub latency: Duration,
}

impl<R> Default for Pairing<R> {
    fn default() -> Self {
        Self::new(DEFAULT_TTL)
    }
}

impl<R> Pairing<R> {
    /// Pairing that forgets calls unanswered after `ttl`.
    pub fn new(ttl: Duration) -> Self {
        Self {
            pending: HashMap::new(),
            order: VecDeque::new(),
            bytes: 0,
            max_bytes: DEFAULT_MAX_BYTES,
            dropped: 0,
            orphans: HashMap::new(),
            orphan_order: VecDeque::new(),
            orphan_bytes: 0,
            max_orphan_bytes: DEFAULT_MAX_EARLY_BYTES,
            orphans_dropped: 0,
            ttl,
        }
    }

    /// The byte budget of early replies (default [`DEFAULT_MAX_EARLY_BYTES`]).
    pub fn with_max_early_bytes(mut self, max_bytes: usize) -> Self {
        self.max_orphan_bytes = max_bytes;
        self
    }

    /// Early replies pushed out of, or refused by, their byte budget.
    pub fn early_dropped(&self) -> u64 {
        self.orphans_dropped
    }

    /// Bytes counted for early replies now.
    pub fn early_bytes(&self) -> usize {
        self.orphan_bytes
    }

    /// The same with a byte budget for the waiting calls: a call that does not fit is not
    /// recorded (its reply goes unpaired) and counted in [`Pairing::dropped`].
    pub fn with_max_bytes(mut self, max_bytes: usize) -> Self {
        self.max_bytes = max_bytes;
        self
    }

    /// Calls not recorded because the byte budget was full.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Bytes counted for the calls waiting now.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// How long a call waits for its reply.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// How many calls wait for a reply.
    pub fn len(&self) -> usize {
        self.pending.len()
    }

    /// Whether no call waits.
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// An invocation with reply subject `reply` was seen. If its reply was already read,
    /// they are paired at once.
    pub fn invocation(&mut self, reply: &str, call: PendingCall) -> Option<Paired<R>> {
        if let Some(orphan) = self.orphans.remove(reply) {
            let latency = orphan.seen.saturating_duration_since(call.seen);
            return Some(Paired { call, reply: orphan.reply, latency });
        }
        let cost =
            2 * reply.len() + call.operation.len() + call.invocation_id.len() + call.tag.len() + PER_CALL_OVERHEAD;
        if self.bytes.saturating_add(cost) > self.max_bytes {
            self.dropped += 1;
            return None;
        }
        self.bytes += cost;
        self.order.push_back((call.seen, reply.to_owned(), cost));
        // A reused reply subject replaces the older call (the older one will not be answered
        // there any more); it is not counted as unanswered.
        if let Some((_, old)) = self.pending.insert(reply.to_owned(), (call, cost)) {
            self.bytes = self.bytes.saturating_sub(old);
        }
        None
    }

    /// A message arrived on reply subject `subject`. Returns the paired call when it
    /// answers one; otherwise keeps it briefly in case its invocation is still to be read,
    /// if `may_be_early` (pass `false` for subjects that cannot be Lattice replies).
    pub fn reply(&mut self, subject: &str, seen: Instant, reply: R, may_be_early: bool) -> Option<Paired<R>>
    where
        R: ByteSize,
    {
        if let Some((call, cost)) = self.pending.remove(subject) {
            self.bytes = self.bytes.saturating_sub(cost);
            let latency = seen.saturating_duration_since(call.seen);
            return Some(Paired { call, reply, latency });
        }
        if may_be_early {
            let cost = 2 * subject.len() + reply.byte_size() + PER_CALL_OVERHEAD;
            if cost > self.max_orphan_bytes {
                self.orphans_dropped += 1;
                return None;
            }
            // Push the oldest out until it fits (stale entries, already paired, go first
            // and count as nothing).
            while self.orphan_bytes.saturating_add(cost) > self.max_orphan_bytes {
                let Some((old_seen, old_subject, old_cost)) = self.orphan_order.pop_front() else { break };
                self.orphan_bytes = self.orphan_bytes.saturating_sub(old_cost);
                if self.orphans.get(&old_subject).is_some_and(|o| o.seen == old_seen) {
                    self.orphans.remove(&old_subject);
                    self.orphans_dropped += 1;
                }
            }
            self.orphan_bytes += cost;
            self.orphan_order.push_back((seen, subject.to_owned(), cost));
            self.orphans.insert(subject.to_owned(), Orphan { seen, reply });
        }
        None
    }

    /// Forget calls older than the TTL at `now`, returning them (they were unanswered),
    /// and early replies whose invocation never came.
    pub fn expire(&mut self, now: Instant) -> Vec<PendingCall> {
        let mut gone = Vec::new();
        while let Some((seen, _, _)) = self.order.front() {
            if now.saturating_duration_since(*seen) < self.ttl {
                break;
            }
            if let Some((seen, reply, cost)) = self.order.pop_front() {
                // Only if the entry is still this call (not answered, not replaced): the
                // bytes of answered and replaced calls were given back then.
                if self.pending.get(&reply).is_some_and(|(c, _)| c.seen == seen) {
                    self.bytes = self.bytes.saturating_sub(cost);
                    gone.extend(self.pending.remove(&reply).map(|(c, _)| c));
                }
            }
        }
        while let Some((seen, _, _)) = self.orphan_order.front() {
            if now.saturating_duration_since(*seen) < ORPHAN_TTL {
                break;
            }
            if let Some((seen, subject, cost)) = self.orphan_order.pop_front() {
                self.orphan_bytes = self.orphan_bytes.saturating_sub(cost);
                if self.orphans.get(&subject).is_some_and(|o| o.seen == seen) {
                    self.orphans.remove(&subject);
                }
            }
        }
        gone
    }
}

/// Whether the reply `payload` to the call with `invocation_id` says the call failed: an
/// `InvocationResponse` with an error or for another id, or anything that is not one (a
/// "no responders" status message is empty, garbage is garbage).
pub fn response_failed(payload: &[u8], invocation_id: &str) -> bool {
    match lattice_proto::InvocationResponse::decode(payload) {
        Ok(r) => r.error.is_some() || r.invocation_id != invocation_id,
        Err(_) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(op: &str, seen: Instant) -> PendingCall {
        PendingCall { operation: op.into(), invocation_id: "id".into(), seen, tag: String::new() }
    }

    #[test]
    fn the_byte_budget_drops_and_counts() {
        let t0 = Instant::now();
        let mut p = Pairing::<&str>::new(Duration::from_secs(1)).with_max_bytes(4096);
        let big = "x".repeat(1500);
        // Each call with a 1.5 KiB reply subject costs > 3 KiB: the second does not fit.
        assert!(p.invocation(&big, call("a", t0)).is_none());
        assert!(p.invocation(&format!("{big}y"), call("b", t0)).is_none());
        assert_eq!((p.len(), p.dropped()), (1, 1));
        assert!(p.bytes() <= 4096);
        // The recorded one still pairs; after the TTL the budget is free again.
        assert!(p.reply(&big, t0, "r", true).is_some());
        p.expire(t0 + Duration::from_secs(2));
        assert_eq!(p.bytes(), 0);
        assert!(p.invocation("_INBOX.small", call("c", t0)).is_none());
        assert_eq!(p.len(), 1);
    }

    #[test]
    fn early_replies_have_a_byte_budget_that_pushes_out_and_counts() {
        let t0 = Instant::now();
        let mut p = Pairing::<&str>::default().with_max_early_bytes(8192);
        let junk = "j".repeat(3000);
        // Each costs > 3 KiB: the third pushes the first out.
        for i in 0..3 {
            assert!(p.reply(&format!("_INBOX.f.{i}"), t0, junk.as_str(), true).is_none());
        }
        assert_eq!(p.early_dropped(), 1);
        assert!(p.early_bytes() <= 8192);
        // Larger than the whole budget: refused and counted.
        let huge = "h".repeat(9000);
        assert!(p.reply("_INBOX.f.huge", t0, huge.as_str(), true).is_none());
        assert_eq!(p.early_dropped(), 2);
        // The pushed-out one no longer pairs; a kept one does.
        assert!(p.invocation("_INBOX.f.0", call("Op", t0)).is_none());
        assert!(p.invocation("_INBOX.f.2", call("Op", t0)).is_some());
        // After the early-reply TTL the budget is free again.
        p.expire(t0 + ORPHAN_TTL + Duration::from_millis(1));
        assert_eq!(p.early_bytes(), 0);
    }

    #[test]
    fn answered_calls_give_their_bytes_back_at_once() {
        let t0 = Instant::now();
        let mut p = Pairing::<&str>::new(Duration::from_secs(60)).with_max_bytes(1024);
        for i in 0..100 {
            let reply = format!("_INBOX.a.{i}");
            assert!(p.invocation(&reply, call("Op", t0)).is_none());
            assert!(p.reply(&reply, t0, "r", true).is_some(), "call {i} was recorded and paired");
        }
        assert_eq!((p.dropped(), p.bytes()), (0, 0));
    }

    #[test]
    fn reply_pairs_with_its_call_and_measures_latency() {
        let t0 = Instant::now();
        let mut p = Pairing::<&str>::default();
        assert!(p.invocation("_INBOX.a.1", call("Op.A", t0)).is_none());
        assert!(p.invocation("_INBOX.a.2", call("Op.B", t0)).is_none());
        let got = p.reply("_INBOX.a.2", t0 + Duration::from_millis(3), "r2", true).unwrap();
        assert_eq!(got.call.operation, "Op.B");
        assert_eq!(got.latency, Duration::from_millis(3));
        assert_eq!(got.reply, "r2");
        assert_eq!(p.len(), 1);
        // Unrelated inbox traffic pairs with nothing.
        assert!(p.reply("_INBOX.zzz", t0, "x", false).is_none());
    }

    #[test]
    fn early_reply_waits_for_its_invocation() {
        let t0 = Instant::now();
        let mut p = Pairing::<&str>::default();
        assert!(p.reply("_INBOX.b.1", t0, "early", true).is_none());
        let got = p.invocation("_INBOX.b.1", call("Op", t0 + Duration::from_micros(5))).unwrap();
        assert_eq!(got.reply, "early");
        assert_eq!(got.latency, Duration::ZERO);
        assert!(p.is_empty());
    }

    #[test]
    fn unanswered_calls_expire_and_are_returned() {
        let t0 = Instant::now();
        let mut p = Pairing::<()>::new(Duration::from_secs(10));
        p.invocation("r1", call("Op.Lost", t0));
        p.invocation("r2", call("Op.Answered", t0));
        p.reply("r2", t0, (), true);
        p.reply("orphan", t0, (), true);
        assert!(p.expire(t0 + Duration::from_secs(9)).is_empty());
        let gone = p.expire(t0 + Duration::from_secs(11));
        assert_eq!(gone.len(), 1);
        assert_eq!(gone[0].operation, "Op.Lost");
        assert!(p.is_empty());
        assert!(p.orphans.is_empty());
    }
}
