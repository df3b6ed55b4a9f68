//! Replay protection, as pure state (PROTOCOL.md §11.5; beyond 0.82).
//!
//! A receiver remembers the ids of invocations it accepted and refuses a repeat; it
//! also refuses claims whose `iat` is further than the window from its clock. The two
//! rules together bound memory: an id only needs remembering until `iat + window`, after
//! which the age rule refuses it anyway. Time is an argument; the caller owns the clock.
//!
//! Memory: a busy receiver remembers every id of the last `window` seconds (3 M at 10 k
//! calls/s and 300 s, hence the cap). So an id is remembered as a 128-bit keyed hash
//! (two SipHash-1-3 with keys drawn per window), not as text: about 60 bytes per id in
//! the set and the expiry heap together, with no allocation per id, instead of about
//! 200–300 for two copies of the string. Two different ids look alike with probability
//! about n²/2¹²⁹ (negligible), and the keys are secret, so nobody can aim for that.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashSet};
use std::hash::{BuildHasher, BuildHasherDefault, Hasher, RandomState};

use crate::claims::ClaimsError;

/// The default window: 300 s.
pub const DEFAULT_WINDOW_SECS: u64 = 300;

/// The default cap on remembered ids (about 60 MB at worst).
pub const DEFAULT_MAX_ENTRIES: usize = 1_000_000;

/// A remembered id: its 128-bit keyed hash, as two halves.
type Digest = (u64, u64);

/// Hashes a [`Digest`] for the set: it already is a uniform keyed hash, so its halves
/// are mixed, not hashed again.
#[derive(Default)]
struct DigestHasher(u64);

impl Hasher for DigestHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Not reached for a Digest (two `write_u64`s); kept correct for any input.
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = self.0.rotate_left(32) ^ n;
    }
}

/// Remembered invocation ids within a time window.
#[derive(Debug)]
pub struct ReplayWindow {
    window: u64,
    max_entries: usize,
    keys: (RandomState, RandomState),
    seen: HashSet<Digest, BuildHasherDefault<DigestHasher>>,
    /// `(expiry, digest)`, soonest first.
    expiries: BinaryHeap<Reverse<(u64, Digest)>>,
    evicted_early: u64,
}

impl ReplayWindow {
    /// A window of `window_secs` remembering at most `max_entries` ids.
    pub fn new(window_secs: u64, max_entries: usize) -> Self {
        Self {
            window: window_secs,
            max_entries: max_entries.max(1),
            keys: (RandomState::new(), RandomState::new()),
            seen: HashSet::default(),
            expiries: BinaryHeap::new(),
            evicted_early: 0,
        }
    }

    /// The window in seconds.
    pub fn window_secs(&self) -> u64 {
        self.window
    }

    /// How many ids are remembered now.
    pub fn len(&self) -> usize {
        self.seen.len()
    }

    /// Whether no id is remembered.
    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }

    /// How many ids were forgotten before their time because the cap was reached (a
    /// sign the cap is too low for the call rate).
    pub fn evicted_early(&self) -> u64 {
        self.evicted_early
    }

    fn digest(&self, id: &str) -> Digest {
        (self.keys.0.hash_one(id), self.keys.1.hash_one(id))
    }

    /// Forget ids whose claims are too old to be accepted anyway.
    fn expire(&mut self, now: u64) {
        while let Some(Reverse((exp, _))) = self.expiries.peek() {
            if *exp >= now {
                break;
            }
            if let Some(Reverse((_, digest))) = self.expiries.pop() {
                self.seen.remove(&digest);
            }
        }
    }

    /// Check the age rule only: `iat` within the window of `now`.
    pub fn check_age(&self, iat: u64, now: u64) -> Result<(), ClaimsError> {
        if iat.abs_diff(now) > self.window {
            return Err(ClaimsError::Stale { iat, now, max_age: self.window });
        }
        Ok(())
    }

    /// Read-only: refuse `id` (issued at `iat`) as stale or already seen at `now`,
    /// remembering nothing (the check before an object-store fetch, PROTOCOL.md §11.11).
    /// It can refuse as replayed an id whose memory lapsed but was not yet swept only
    /// when the same id was signed again with another `iat`, which takes the cluster seed.
    pub fn check(&self, id: &str, iat: u64, now: u64) -> Result<(), ClaimsError> {
        self.check_age(iat, now)?;
        if self.seen.contains(&self.digest(id)) {
            return Err(ClaimsError::Replayed { id: id.to_owned() });
        }
        Ok(())
    }

    /// Accept `id` (issued at `iat`) at time `now` and remember it, or refuse it as
    /// stale or replayed. Call only for invocations whose claims verified.
    pub fn check_and_record(&mut self, id: &str, iat: u64, now: u64) -> Result<(), ClaimsError> {
        self.expire(now);
        self.check_age(iat, now)?;
        let digest = self.digest(id);
        if self.seen.contains(&digest) {
            return Err(ClaimsError::Replayed { id: id.to_owned() });
        }
        if self.seen.len() >= self.max_entries
            && let Some(Reverse((_, old))) = self.expiries.pop()
        {
            self.seen.remove(&old);
            self.evicted_early += 1;
        }
        self.seen.insert(digest);
        self.expiries.push(Reverse((iat.saturating_add(self.window), digest)));
        Ok(())
    }
}

impl Default for ReplayWindow {
    fn default() -> Self {
        Self::new(DEFAULT_WINDOW_SECS, DEFAULT_MAX_ENTRIES)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeat_within_window_is_refused() {
        let mut w = ReplayWindow::new(300, 10);
        w.check_and_record("a", 1000, 1000).unwrap();
        assert_eq!(w.check_and_record("a", 1000, 1001), Err(ClaimsError::Replayed { id: "a".into() }));
        w.check_and_record("b", 1000, 1001).unwrap();
    }

    #[test]
    fn old_claims_are_stale_and_forgotten_ids_stay_refused() {
        let mut w = ReplayWindow::new(300, 10);
        w.check_and_record("a", 1000, 1000).unwrap();
        // After the window the id is forgotten, but its claims are now stale.
        assert!(matches!(w.check_and_record("a", 1000, 1301), Err(ClaimsError::Stale { .. })));
        assert_eq!(w.len(), 0);
        // Claims from the future beyond the window are stale too.
        assert!(matches!(w.check_and_record("c", 2000, 1000), Err(ClaimsError::Stale { .. })));
    }

    #[test]
    fn many_ids_are_told_apart_and_all_remembered() {
        let mut w = ReplayWindow::new(300, 1_000_000);
        for i in 0..100_000u32 {
            w.check_and_record(&format!("{i:032x}"), 1000, 1000).unwrap();
        }
        assert_eq!(w.len(), 100_000);
        for i in (0..100_000u32).step_by(997) {
            let id = format!("{i:032x}");
            assert_eq!(w.check_and_record(&id, 1000, 1001), Err(ClaimsError::Replayed { id }));
        }
        // Ids differing in one character, or only in length, are different ids.
        w.check_and_record("00000000000000000000000000000000x", 1000, 1001).unwrap();
        w.check_and_record("", 1000, 1001).unwrap();
        assert!(w.check_and_record("", 1000, 1001).is_err());
    }

    #[test]
    fn expiry_forgets_in_iat_order_even_when_ids_arrive_out_of_order() {
        let mut w = ReplayWindow::new(10, 100);
        w.check_and_record("late", 1005, 1005).unwrap();
        w.check_and_record("early", 1000, 1005).unwrap();
        // At 1011 "early" (expiry 1010) is forgotten, "late" (1015) is not.
        w.check_and_record("x", 1011, 1011).unwrap();
        assert_eq!(w.len(), 2);
        assert!(matches!(w.check_and_record("late", 1005, 1011), Err(ClaimsError::Replayed { .. })));
    }

    #[test]
    fn cap_evicts_oldest_and_counts_it() {
        let mut w = ReplayWindow::new(300, 2);
        w.check_and_record("a", 1000, 1000).unwrap();
        w.check_and_record("b", 1001, 1001).unwrap();
        w.check_and_record("c", 1002, 1002).unwrap();
        assert_eq!(w.len(), 2);
        assert_eq!(w.evicted_early(), 1);
    }
}
