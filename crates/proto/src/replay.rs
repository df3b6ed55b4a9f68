//! Replay protection, as pure state (PROTOCOL.md §11.5; beyond 0.82).
//!
//! A receiver remembers the ids of invocations it accepted and refuses a repeat; it
//! also refuses claims whose `iat` is further than the window from its clock. The two
//! rules together bound memory: an id only needs remembering until `iat + window`, after
//! which the age rule refuses it anyway. Time is an argument; the caller owns the clock.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashSet};

use crate::claims::ClaimsError;

/// The default window: 300 s.
pub const DEFAULT_WINDOW_SECS: u64 = 300;

/// The default cap on remembered ids (about 100 MB at worst).
pub const DEFAULT_MAX_ENTRIES: usize = 1_000_000;

/// Remembered invocation ids within a time window.
#[derive(Debug)]
pub struct ReplayWindow {
    window: u64,
    max_entries: usize,
    seen: HashSet<String>,
    expiries: BinaryHeap<Reverse<(u64, String)>>,
    evicted_early: u64,
}

impl ReplayWindow {
    /// A window of `window_secs` remembering at most `max_entries` ids.
    pub fn new(window_secs: u64, max_entries: usize) -> Self {
        Self {
            window: window_secs,
            max_entries: max_entries.max(1),
            seen: HashSet::new(),
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

    /// Forget ids whose claims are too old to be accepted anyway.
    fn expire(&mut self, now: u64) {
        while let Some(Reverse((exp, _))) = self.expiries.peek() {
            if *exp >= now {
                break;
            }
            if let Some(Reverse((_, id))) = self.expiries.pop() {
                self.seen.remove(&id);
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

    /// Accept `id` (issued at `iat`) at time `now` and remember it, or refuse it as
    /// stale or replayed. Call only for invocations whose claims verified.
    pub fn check_and_record(&mut self, id: &str, iat: u64, now: u64) -> Result<(), ClaimsError> {
        self.expire(now);
        self.check_age(iat, now)?;
        if self.seen.contains(id) {
            return Err(ClaimsError::Replayed { id: id.to_owned() });
        }
        if self.seen.len() >= self.max_entries
            && let Some(Reverse((_, old))) = self.expiries.pop()
        {
            self.seen.remove(&old);
            self.evicted_early += 1;
        }
        self.seen.insert(id.to_owned());
        self.expiries.push(Reverse((iat.saturating_add(self.window), id.to_owned())));
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
    fn cap_evicts_oldest_and_counts_it() {
        let mut w = ReplayWindow::new(300, 2);
        w.check_and_record("a", 1000, 1000).unwrap();
        w.check_and_record("b", 1001, 1001).unwrap();
        w.check_and_record("c", 1002, 1002).unwrap();
        assert_eq!(w.len(), 2);
        assert_eq!(w.evicted_early(), 1);
    }
}
