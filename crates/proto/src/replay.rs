//! Replay protection, as pure state (PROTOCOL.md §11.5; beyond 0.82).
//!
//! A receiver remembers the ids of invocations it accepted and refuses a repeat; it
//! also refuses claims whose `iat` is further than the window from its clock. The two
//! rules together bound memory: an id only needs remembering until `iat + window`, after
//! which the age rule refuses it anyway. Time is an argument; the caller owns the clock.
//!
//! Memory: a busy receiver remembers every id of the last `window` seconds — 6 M at
//! 20 k calls/s and 300 s. So an id is remembered as a short keyed fingerprint in a set
//! per `iat` second, not as text:
//!
//! * the fingerprint is the top 48 bits of SipHash-1-3 of the id under a random key drawn
//!   per window (per process), so nobody outside can aim for a collision;
//! * a replay carries the same signed claims, hence the same `iat`, so a new id is only
//!   compared with the ids of its own `iat` second, and a whole second is forgotten at
//!   once when its claims turn stale;
//! * a finished second is stored packed: sorted, split in 256 ranges by the fingerprint's
//!   top 8 bits (implicit, an offset table of 1 KiB per second), the other 40 bits in
//!   5 bytes. New ids go to a small hash set first, merged in linear time when it reaches
//!   a quarter of the packed part and once the second is over.
//!
//! So an entry costs 5 bytes: 6.2 M ids ([`DEFAULT_MAX_ENTRIES`]) fit in about 30 MiB. A
//! fresh id is wrongly refused when its fingerprint equals one of the `n` ids already
//! seen for its `iat` second: probability at most `n / 2⁴⁸` — 7.1·10⁻¹¹ for 20 k ids per
//! second, under 10⁻⁹ up to 281 k ids per second (docs/SECURITY.md §3 has the arithmetic).

use std::collections::{BTreeMap, HashSet};
use std::hash::{BuildHasher, BuildHasherDefault, Hasher, RandomState};

use crate::claims::ClaimsError;

/// The default window: 300 s.
pub const DEFAULT_WINDOW_SECS: u64 = 300;

/// The default cap on remembered ids: 20 k calls/s for 300 s plus 3 % (about 30 MiB).
pub const DEFAULT_MAX_ENTRIES: usize = 6_200_000;

/// Bits of the keyed hash kept per id.
pub const FINGERPRINT_BITS: u32 = 48;

/// Bits of the fingerprint that pick its range in a packed second (not stored).
const RANGE_BITS: u32 = 8;
const RANGES: usize = 1 << RANGE_BITS;
/// Bytes stored per packed id: the fingerprint's other 40 bits.
const PACKED_BYTES: usize = 5;
/// A second's new ids are merged into its packed part once they number this many, or a
/// quarter of the packed part, whichever is more.
const MERGE_MIN: usize = 4096;

/// A remembered id: its 48-bit keyed fingerprint, in the low bits.
type Fingerprint = u64;

/// Hashes a [`Fingerprint`] for the set of new ids: it already is uniform, so it is only
/// spread over all 64 bits (the set's control bytes come from the top bits).
#[derive(Default)]
struct SpreadHasher(u64);

impl Hasher for SpreadHasher {
    fn finish(&self) -> u64 {
        self.0.wrapping_mul(0x9E37_79B9_7F4A_7C15)
    }

    fn write(&mut self, bytes: &[u8]) {
        // Not reached for a Fingerprint (one `write_u64`); kept correct for any input.
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 ^= n;
    }
}

type NewIds = HashSet<Fingerprint, BuildHasherDefault<SpreadHasher>>;

/// The ids accepted with one `iat` second.
#[derive(Debug, Default)]
struct Second {
    /// `offsets[r]..offsets[r + 1]` is range `r` of `high`/`low`; empty while nothing is
    /// packed.
    offsets: Box<[u32]>,
    /// Fingerprint bits 39..8 of the packed ids, sorted within each range.
    high: Box<[u32]>,
    /// Fingerprint bits 7..0, beside `high`.
    low: Box<[u8]>,
    /// Ids not packed yet.
    new: NewIds,
}

impl Second {
    fn len(&self) -> usize {
        self.high.len() + self.new.len()
    }

    fn contains(&self, fp: Fingerprint) -> bool {
        self.new.contains(&fp) || self.packed_contains(fp)
    }

    fn packed_contains(&self, fp: Fingerprint) -> bool {
        let range = (fp >> (FINGERPRINT_BITS - RANGE_BITS)) as usize;
        let (Some(&start), Some(&end)) = (self.offsets.get(range), self.offsets.get(range + 1)) else {
            return false;
        };
        let (start, end) = (start as usize, end as usize);
        let (Some(high), Some(low)) = (self.high.get(start..end), self.low.get(start..end)) else {
            return false;
        };
        let (h, l) = ((fp >> 8) as u32, fp as u8);
        let first = high.partition_point(|&x| x < h);
        high[first..].iter().zip(&low[first..]).take_while(|(x, _)| **x == h).any(|(_, y)| *y == l)
    }

    /// The packed fingerprints, in order.
    fn packed(&self) -> impl Iterator<Item = Fingerprint> + '_ {
        self.offsets.windows(2).enumerate().flat_map(move |(range, w)| {
            let (start, end) = (w[0] as usize, w[1] as usize);
            let top = (range as u64) << (FINGERPRINT_BITS - RANGE_BITS);
            self.high[start..end]
                .iter()
                .zip(&self.low[start..end])
                .map(move |(&h, &l)| top | (u64::from(h) << 8) | u64::from(l))
        })
    }

    /// Pack the new ids: a linear merge of two sorted runs into exact-size arrays.
    fn pack(&mut self) {
        if self.new.is_empty() {
            return;
        }
        let mut fresh: Vec<Fingerprint> = self.new.drain().collect();
        fresh.sort_unstable();
        self.new = NewIds::default();
        let total = self.high.len() + fresh.len();
        let mut offsets = vec![0u32; RANGES + 1];
        let mut high = Vec::with_capacity(total);
        let mut low = Vec::with_capacity(total);
        let mut push = |fp: Fingerprint| {
            let range = (fp >> (FINGERPRINT_BITS - RANGE_BITS)) as usize;
            if let Some(o) = offsets.get_mut(range + 1) {
                *o += 1;
            }
            high.push((fp >> 8) as u32);
            low.push(fp as u8);
        };
        let mut old = self.packed().peekable();
        let mut fresh = fresh.into_iter().peekable();
        loop {
            let next = match (old.peek(), fresh.peek()) {
                (Some(a), Some(b)) if a <= b => old.next(),
                (Some(_), Some(_)) | (None, Some(_)) => fresh.next(),
                (Some(_), None) => old.next(),
                (None, None) => break,
            };
            if let Some(fp) = next {
                push(fp);
            }
        }
        drop(old);
        for r in 0..RANGES {
            offsets[r + 1] += offsets[r];
        }
        self.offsets = offsets.into_boxed_slice();
        self.high = high.into_boxed_slice();
        self.low = low.into_boxed_slice();
    }

    /// Heap bytes held (an estimate for the set of new ids: slots plus control bytes).
    fn heap_bytes(&self) -> usize {
        self.offsets.len() * size_of::<u32>()
            + self.high.len() * PACKED_BYTES
            + self.new.capacity() * (size_of::<Fingerprint>() + 1) * 8 / 7
    }
}

/// Remembered invocation ids within a time window.
#[derive(Debug)]
pub struct ReplayWindow {
    window: u64,
    max_entries: usize,
    merge_min: usize,
    key: RandomState,
    /// By `iat`.
    seconds: BTreeMap<u64, Second>,
    len: usize,
    /// The clock at the last call, to pack finished seconds once per second.
    last_now: u64,
    evicted_early: u64,
}

impl ReplayWindow {
    /// A window of `window_secs` remembering at most `max_entries` ids.
    pub fn new(window_secs: u64, max_entries: usize) -> Self {
        Self {
            window: window_secs,
            max_entries: max_entries.max(1),
            merge_min: MERGE_MIN,
            key: RandomState::new(),
            seconds: BTreeMap::new(),
            len: 0,
            last_now: 0,
            evicted_early: 0,
        }
    }

    /// The window in seconds.
    pub fn window_secs(&self) -> u64 {
        self.window
    }

    /// How many ids are remembered now.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no id is remembered.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// How many ids were forgotten before their time because the cap was reached (a
    /// sign the cap is too low for the call rate).
    pub fn evicted_early(&self) -> u64 {
        self.evicted_early
    }

    /// The heap bytes this window holds now (an estimate within a few per cent: the
    /// packed arrays exactly, the sets of not yet packed ids by their capacity).
    pub fn memory_bytes(&self) -> usize {
        // A B-tree entry is a key and a value, nodes about two-thirds full.
        let per_second = (size_of::<u64>() + size_of::<Second>()) * 3 / 2;
        self.seconds.values().map(|s| s.heap_bytes() + per_second).sum()
    }

    fn fingerprint(&self, id: &str) -> Fingerprint {
        self.key.hash_one(id) >> (64 - FINGERPRINT_BITS)
    }

    /// Forget the seconds whose claims are too old to be accepted anyway; pack the
    /// seconds that are over.
    fn expire(&mut self, now: u64) {
        while let Some(entry) = self.seconds.first_entry() {
            if entry.key().saturating_add(self.window) >= now {
                break;
            }
            self.len -= entry.remove().len();
        }
        if now != self.last_now {
            self.last_now = now;
            for (_, second) in self.seconds.range_mut(..now.saturating_sub(1)) {
                second.pack();
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
    /// Ids are kept per `iat` second, as [`ReplayWindow::check_and_record`] keeps them.
    pub fn check(&self, id: &str, iat: u64, now: u64) -> Result<(), ClaimsError> {
        self.check_age(iat, now)?;
        if self.seconds.get(&iat).is_some_and(|s| s.contains(self.fingerprint(id))) {
            return Err(ClaimsError::Replayed { id: id.to_owned() });
        }
        Ok(())
    }

    /// Accept `id` (issued at `iat`) at time `now` and remember it, or refuse it as
    /// stale or replayed. Call only for invocations whose claims verified.
    pub fn check_and_record(&mut self, id: &str, iat: u64, now: u64) -> Result<(), ClaimsError> {
        let fp = self.fingerprint(id);
        if self.record(fp, iat, now)? { Ok(()) } else { Err(ClaimsError::Replayed { id: id.to_owned() }) }
    }

    /// Remember `fp` under `iat`: `Ok(false)` when it already is.
    fn record(&mut self, fp: Fingerprint, iat: u64, now: u64) -> Result<bool, ClaimsError> {
        self.expire(now);
        self.check_age(iat, now)?;
        if self.seconds.get(&iat).is_some_and(|s| s.contains(fp)) {
            return Ok(false);
        }
        while self.len >= self.max_entries {
            let Some((_, oldest)) = self.seconds.pop_first() else { break };
            let n = oldest.len();
            self.len -= n;
            self.evicted_early += n as u64;
        }
        let merge_min = self.merge_min;
        let second = self.seconds.entry(iat).or_default();
        second.new.insert(fp);
        self.len += 1;
        if second.new.len() >= merge_min.max(second.high.len() / 4) {
            second.pack();
        }
        Ok(true)
    }
}

impl Default for ReplayWindow {
    fn default() -> Self {
        Self::new(DEFAULT_WINDOW_SECS, DEFAULT_MAX_ENTRIES)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use proptest::prelude::*;

    use super::*;

    /// A small deterministic generator of uniform 64-bit values (SplitMix64).
    struct SplitMix(u64);

    impl SplitMix {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        }

        fn fingerprint(&mut self) -> Fingerprint {
            self.next() >> (64 - FINGERPRINT_BITS)
        }
    }

    #[test]
    fn repeat_within_window_is_refused() {
        let mut w = ReplayWindow::new(300, 10);
        w.check_and_record("a", 1000, 1000).unwrap();
        assert_eq!(w.check_and_record("a", 1000, 1001), Err(ClaimsError::Replayed { id: "a".into() }));
        w.check_and_record("b", 1000, 1001).unwrap();
        // Still refused after its second was packed (two seconds later), up to the end
        // of the window.
        assert!(matches!(w.check_and_record("a", 1000, 1003), Err(ClaimsError::Replayed { .. })));
        assert!(matches!(w.check_and_record("a", 1000, 1300), Err(ClaimsError::Replayed { .. })));
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
        for now in [1001, 1005] {
            for i in (0..100_000u32).step_by(997) {
                let id = format!("{i:032x}");
                assert_eq!(w.check_and_record(&id, 1000, now), Err(ClaimsError::Replayed { id }));
            }
        }
        // Ids differing in one character, or only in length, are different ids.
        w.check_and_record("00000000000000000000000000000000x", 1000, 1005).unwrap();
        w.check_and_record("", 1000, 1005).unwrap();
        assert!(w.check_and_record("", 1000, 1005).is_err());
        assert_eq!(w.len(), 100_002);
    }

    #[test]
    fn the_same_id_with_another_iat_is_another_call() {
        // A replay carries the original claims, so the original iat: only that second is
        // searched. (Another iat means new claims, which a forger cannot sign.)
        let mut w = ReplayWindow::new(300, 10);
        w.check_and_record("a", 1000, 1000).unwrap();
        w.check_and_record("a", 1001, 1001).unwrap();
        assert_eq!(w.len(), 2);
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
        // The others are still refused; the evicted id is accepted again.
        assert!(w.check_and_record("b", 1001, 1002).is_err());
        assert!(w.check_and_record("c", 1002, 1002).is_err());
        w.check_and_record("a", 1000, 1002).unwrap();
    }

    #[test]
    fn late_ids_for_a_packed_second_are_remembered() {
        let mut w = ReplayWindow::new(300, 1000);
        w.merge_min = 2;
        for i in 0..50 {
            w.check_and_record(&format!("a{i}"), 1000, 1000).unwrap();
        }
        // 1000 is packed at 1002; more ids with iat 1000 arrive late.
        for i in 0..50 {
            w.check_and_record(&format!("b{i}"), 1000, 1002).unwrap();
        }
        for i in 0..50 {
            assert!(w.check_and_record(&format!("a{i}"), 1000, 1003).is_err());
            assert!(w.check_and_record(&format!("b{i}"), 1000, 1004).is_err());
        }
        assert_eq!(w.len(), 100);
    }

    /// The target: 20 k calls/s for the whole 300 s window, all remembered, in at
    /// most 32 MiB, and fresh ids are not refused. (A minute in a debug build: run with
    /// `--ignored`; [`a_tenth_of_the_window_at_20k_calls_per_second_fits_in_a_tenth`] runs
    /// the same at a tenth of the window.)
    #[test]
    #[ignore = "slow in debug builds; the scaled version runs always"]
    fn the_whole_window_at_20k_calls_per_second_fits_in_32_mib() {
        fill_at_20k_calls_per_second(DEFAULT_WINDOW_SECS, DEFAULT_MAX_ENTRIES, 32.0);
    }

    /// The same per-second load over a 30 s window and a tenth of the cap: the same
    /// seconds (20 k ids each) and the same bytes per id, in a tenth of the memory.
    #[test]
    fn a_tenth_of_the_window_at_20k_calls_per_second_fits_in_a_tenth() {
        fill_at_20k_calls_per_second(DEFAULT_WINDOW_SECS / 10, DEFAULT_MAX_ENTRIES / 10, 3.2);
    }

    fn fill_at_20k_calls_per_second(window: u64, cap: usize, max_mib: f64) {
        const RATE: u64 = 20_000;
        let mut w = ReplayWindow::new(window, cap);
        let mut rng = SplitMix(7);
        let start = 1_000_000;
        let end = start + window;
        // Remember a sample of each second's ids to replay at the end.
        let mut sample = Vec::new();
        for now in start..=end {
            for i in 0..RATE {
                let fp = rng.fingerprint();
                // A little clock skew between senders: one call in 100 a second old.
                let iat = if i % 100 == 0 { now - 1 } else { now };
                assert_eq!(w.record(fp, iat, now), Ok(true), "fresh id refused");
                if i % 4999 == 0 {
                    sample.push((fp, iat));
                }
            }
        }
        assert_eq!(w.evicted_early(), 0);
        assert!(w.len() >= (window * RATE) as usize, "{}", w.len());
        let mib = w.memory_bytes() as f64 / (1024.0 * 1024.0);
        assert!(mib <= max_mib, "replay window holds {mib:.2} MiB for {} ids", w.len());
        // Every sampled id, even from the first second, is still refused at the end.
        for (fp, iat) in &sample {
            if iat + window >= end {
                assert_eq!(w.record(*fp, *iat, end), Ok(false));
            }
        }
        // 10⁵ fresh ids: expected false refusals 10⁵ · 20 k / 2⁴⁸ ≈ 7·10⁻⁶.
        for _ in 0..100_000 {
            assert_eq!(w.record(rng.fingerprint(), end, end), Ok(true));
        }
    }

    #[derive(Clone, Debug)]
    enum Op {
        Call { id: u8, iat_offset: i8 },
        Tick(u8),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => (0u8..40, -8i8..=8).prop_map(|(id, iat_offset)| Op::Call { id, iat_offset }),
            1 => (0u8..4).prop_map(Op::Tick),
        ]
    }

    proptest! {
        /// The packed window decides exactly like a plain map of ids to expiry (small id
        /// sets: a fingerprint collision among 40 ids has probability ~3·10⁻¹²).
        #[test]
        fn decides_like_an_exact_map(ops in prop::collection::vec(op(), 1..400), merge_min in 1usize..6) {
            const WINDOW: u64 = 6;
            let mut w = ReplayWindow::new(WINDOW, 10_000);
            w.merge_min = merge_min;
            let mut model: HashMap<(String, u64), ()> = HashMap::new();
            let mut now = 10_000u64;
            for op in ops {
                match op {
                    Op::Tick(d) => now += u64::from(d),
                    Op::Call { id, iat_offset } => {
                        let id = format!("id-{id}");
                        let iat = now.saturating_add_signed(i64::from(iat_offset));
                        model.retain(|(_, i), ()| i + WINDOW >= now);
                        let expected = if iat.abs_diff(now) > WINDOW {
                            "stale"
                        } else if model.insert((id.clone(), iat), ()).is_some() {
                            "replayed"
                        } else {
                            "ok"
                        };
                        let got = match w.check_and_record(&id, iat, now) {
                            Ok(()) => "ok",
                            Err(e) => e.kind(),
                        };
                        prop_assert_eq!(got, expected);
                        prop_assert_eq!(w.len(), model.len());
                    }
                }
            }
        }

        /// Packing keeps every fingerprint and finds each one again.
        #[test]
        fn packing_keeps_every_fingerprint(seed in any::<u64>(), n in 0usize..3000, batches in 1usize..5) {
            let mut rng = SplitMix(seed);
            let mut s = Second::default();
            let mut all = Vec::new();
            for _ in 0..batches {
                for _ in 0..n / batches {
                    let fp = rng.fingerprint();
                    s.new.insert(fp);
                    all.push(fp);
                }
                s.pack();
            }
            all.sort_unstable();
            all.dedup();
            prop_assert_eq!(s.packed().collect::<Vec<_>>(), all.clone());
            for fp in &all {
                prop_assert!(s.contains(*fp));
            }
            for _ in 0..100 {
                let fp = rng.fingerprint();
                prop_assert_eq!(s.contains(fp), all.binary_search(&fp).is_ok());
            }
        }
    }
}
