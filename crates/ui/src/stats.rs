//! Per-edge call statistics over a sliding window: calls/s, error rate, p50/p99 latency.
//!
//! The call graph shows, for each (origin → target) pair, what happened in the last
//! `window` seconds. At thousands of calls per second keeping every sample is wasteful, so
//! each edge keeps one [`Bucket`] per second (count, errors, a log-scale latency
//! histogram) in a ring; a view merges the buckets still inside the window. Quantiles come
//! from the histogram: [`BINS_PER_OCTAVE`] bins per doubling, so a reported latency is the
//! upper edge of its bin, at most ~19 % above the true value — plenty for a dashboard.
//! Time is an argument (whole seconds since the model started), so this is unit-tested
//! without clocks.

use std::collections::VecDeque;
use std::time::Duration;

/// Histogram bins per doubling of latency.
pub const BINS_PER_OCTAVE: u32 = 4;
/// Bins: 1 µs … 2^30 µs (~18 min) in quarter-octaves.
const BINS: usize = 30 * BINS_PER_OCTAVE as usize + 1;

/// One second of one edge's calls.
#[derive(Clone, Debug)]
struct Bucket {
    sec: u64,
    calls: u64,
    errors: u64,
    measured: u64,
    hist: Box<[u32; BINS]>,
}

impl Bucket {
    fn new(sec: u64) -> Self {
        Self { sec, calls: 0, errors: 0, measured: 0, hist: Box::new([0; BINS]) }
    }
}

/// The bin of a latency.
fn bin(latency: Duration) -> usize {
    let us = latency.as_micros().max(1) as f64;
    let i = (us.log2() * f64::from(BINS_PER_OCTAVE)).floor();
    // `us >= 1`, so `i >= 0`; the cast saturates on the (absurd) high side, then is clamped.
    (i as usize).min(BINS - 1)
}

/// The upper edge of bin `i`, in microseconds.
fn bin_upper_us(i: usize) -> f64 {
    2f64.powf((i as f64 + 1.0) / f64::from(BINS_PER_OCTAVE))
}

/// One edge's recent calls.
#[derive(Clone, Debug, Default)]
pub struct EdgeStats {
    buckets: VecDeque<Bucket>,
    first_sec: Option<u64>,
}

/// What the page shows for an edge.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EdgeSummary {
    /// Calls in the window.
    pub calls: u64,
    /// Calls per second over the window (or over the edge's life, if shorter).
    pub rate: f64,
    /// Share of answered-or-expired calls that failed (0..=1).
    pub error_rate: f64,
    /// Median latency, microseconds (`None` before a response was measured).
    pub p50_us: Option<f64>,
    /// 99th percentile latency, microseconds.
    pub p99_us: Option<f64>,
}

impl EdgeStats {
    fn bucket(&mut self, sec: u64) -> &mut Bucket {
        self.first_sec.get_or_insert(sec);
        let fresh = self.buckets.back().is_none_or(|b| b.sec < sec);
        if fresh {
            self.buckets.push_back(Bucket::new(sec));
        }
        // An out-of-order (older) second lands in the newest bucket: close enough.
        let last = self.buckets.len() - 1;
        &mut self.buckets[last]
    }

    /// A call finished at second `sec`: its latency (if paired in order) and outcome.
    pub fn record(&mut self, sec: u64, latency: Option<Duration>, error: bool) {
        let b = self.bucket(sec);
        b.calls += 1;
        b.errors += u64::from(error);
        if let Some(l) = latency {
            b.measured += 1;
            b.hist[bin(l)] = b.hist[bin(l)].saturating_add(1);
        }
    }

    /// Forget seconds older than `window` at `now_sec`. Returns whether anything is left.
    pub fn expire(&mut self, now_sec: u64, window: u64) -> bool {
        while self.buckets.front().is_some_and(|b| b.sec + window <= now_sec) {
            self.buckets.pop_front();
        }
        if self.buckets.is_empty() {
            self.first_sec = None;
        }
        !self.buckets.is_empty()
    }

    /// The edge over the last `window` seconds at `now_sec`.
    pub fn summary(&self, now_sec: u64, window: u64) -> EdgeSummary {
        let mut calls = 0;
        let mut errors = 0;
        let mut measured = 0u64;
        let mut hist = [0u64; BINS];
        for b in self.buckets.iter().filter(|b| b.sec + window > now_sec) {
            calls += b.calls;
            errors += b.errors;
            measured += b.measured;
            for (h, n) in hist.iter_mut().zip(b.hist.iter()) {
                *h += u64::from(*n);
            }
        }
        // The rate's denominator: the window, or the edge's age if it is younger (a new
        // edge at 100 calls/s shows 100/s at once, not 10/s).
        let age = self.first_sec.map_or(1, |f| now_sec.saturating_sub(f) + 1);
        let span = age.clamp(1, window.max(1));
        let quantile = |q: f64| -> Option<f64> {
            if measured == 0 {
                return None;
            }
            let rank = ((measured as f64) * q).ceil().max(1.0) as u64;
            let mut seen = 0;
            for (i, n) in hist.iter().enumerate() {
                seen += n;
                if seen >= rank {
                    return Some(bin_upper_us(i));
                }
            }
            None
        };
        EdgeSummary {
            calls,
            rate: calls as f64 / span as f64,
            error_rate: if calls == 0 { 0.0 } else { errors as f64 / calls as f64 },
            p50_us: quantile(0.50),
            p99_us: quantile(0.99),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bins_bound_the_latency_from_above_within_a_fifth() {
        for us in [1u64, 2, 3, 10, 999, 1000, 1001, 12_345, 1_000_000, 60_000_000] {
            let got = bin_upper_us(bin(Duration::from_micros(us)));
            assert!(got > us as f64 && got <= us as f64 * 1.19 + 1.0, "{us} -> {got}");
        }
        assert_eq!(bin(Duration::ZERO), 0);
        assert_eq!(bin(Duration::from_secs(1 << 40)), BINS - 1);
    }

    #[test]
    fn rate_errors_and_quantiles_over_the_window() {
        let mut e = EdgeStats::default();
        for sec in 100..110 {
            for i in 0..100u64 {
                // 1 % of calls are slow (50 ms), the rest 1 ms; one in ten fails.
                let l = if i == 0 { 50_000 } else { 1_000 };
                e.record(sec, Some(Duration::from_micros(l)), i % 10 == 0);
            }
        }
        let s = e.summary(109, 10);
        assert_eq!(s.calls, 1000);
        assert!((s.rate - 100.0).abs() < 1e-9, "{}", s.rate);
        assert!((s.error_rate - 0.1).abs() < 1e-9);
        let p50 = s.p50_us.unwrap();
        assert!((1000.0..1200.0).contains(&p50), "{p50}");
        let p99 = s.p99_us.unwrap();
        assert!((1000.0..1200.0).contains(&p99), "p99 is the 990th of 1000: {p99}");
        // Five seconds later half the buckets are out of the window.
        assert!(e.expire(114, 10));
        let later = e.summary(114, 10);
        assert_eq!(later.calls, 500);
        assert!((later.rate - 50.0).abs() < 1e-9);
        // Long after, nothing is left and the edge can go.
        assert!(!e.expire(200, 10));
        assert_eq!(e.summary(200, 10).calls, 0);
    }

    #[test]
    fn a_young_edge_rates_over_its_age_and_unmeasured_calls_have_no_latency() {
        let mut e = EdgeStats::default();
        for _ in 0..30 {
            e.record(5, None, false);
        }
        let s = e.summary(5, 10);
        assert!((s.rate - 30.0).abs() < 1e-9);
        assert_eq!(s.p50_us, None);
        assert_eq!(s.error_rate, 0.0);
    }
}
