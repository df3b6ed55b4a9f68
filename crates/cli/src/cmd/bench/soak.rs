//! `lattice bench --actor --soak SECS`: the actor path at bench load for a long time, to show
//! that the host's memory stays flat (issue 17).
//!
//! The same host process(es) and signed `HttpServer.HandleRequest` calls as the `--actor`
//! cells ([`super::actor`]), but one continuous run at the first `--payloads` size and
//! the first `--concurrency` value, no raw baseline. Every `--soak-interval` seconds it
//! samples each host's resident memory (`VmRSS` of `/proc/{pid}/status`) and the calls and
//! errors so far, and prints a line (a `{"soak_sample": …}` JSON line with `--json`). At the
//! end it compares the host's RSS at the end with its RSS after the warm-up
//! (`--soak-warmup`, default: half the soak, at most the 300 s replay window, which is when
//! the replay memory is full): **flat** means the end is within 10 % of that value. The
//! summary (`{"soak": …}`) carries the verdict, the peak, the calls and the errors; the bench
//! exits 1 when a call failed or the memory was not flat.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;

use super::measure::round1;
use super::setup::Setup;

/// The largest growth after warm-up still called flat.
pub(crate) const FLAT_TOLERANCE: f64 = 0.10;

/// The longest default warm-up: the replay window, after which the replay memory is full.
const MAX_DEFAULT_WARMUP: f64 = 300.0;

/// The soak's flags (with `--actor`).
#[derive(clap::Args, Clone, Debug)]
pub(crate) struct SoakArgs {
    /// With --actor: one continuous run of SECS seconds at the first payload and
    /// concurrency, sampling the host's RSS over time; flat memory and no error required.
    #[arg(long, value_name = "SECS", requires = "actor")]
    pub(crate) soak: Option<f64>,
    /// With --soak: seconds before the reference RSS sample [default: half the soak, at
    /// most 300].
    #[arg(long, value_name = "SECS", requires = "soak")]
    pub(crate) soak_warmup: Option<f64>,
    /// With --soak: seconds between samples [default: a twentieth of the soak, at least 1].
    #[arg(long, value_name = "SECS", requires = "soak")]
    pub(crate) soak_interval: Option<f64>,
}

impl SoakArgs {
    /// The soak length, warm-up and sample interval, checked.
    pub(crate) fn plan(&self) -> Result<Option<(Duration, Duration, Duration)>, String> {
        let Some(secs) = self.soak else { return Ok(None) };
        let ok = |x: f64| x.is_finite() && x > 0.0;
        if !ok(secs) {
            return Err("--soak must be > 0 seconds".to_owned());
        }
        let warmup = self.soak_warmup.unwrap_or((secs / 2.0).min(MAX_DEFAULT_WARMUP));
        if !(warmup.is_finite() && warmup >= 0.0 && warmup < secs) {
            return Err("--soak-warmup must be >= 0 and shorter than --soak".to_owned());
        }
        let interval = self.soak_interval.unwrap_or((secs / 20.0).max(1.0));
        if !ok(interval) {
            return Err("--soak-interval must be > 0 seconds".to_owned());
        }
        Ok(Some((Duration::from_secs_f64(secs), Duration::from_secs_f64(warmup), Duration::from_secs_f64(interval))))
    }
}

/// Resident memory of `pid` now, in MiB (`VmRSS`).
pub(crate) fn rss_mib(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// One sample.
#[derive(Clone, Debug)]
struct Sample {
    t: f64,
    calls: u64,
    errors: u64,
    /// The largest host's RSS.
    rss_mib: f64,
}

/// The soak's outcome.
#[derive(Debug)]
pub(crate) struct Verdict {
    pub(crate) errors: u64,
    pub(crate) flat: bool,
    /// What to say when it failed.
    pub(crate) summary: String,
}

/// When to sample: every `interval`, at the end of the warm-up (the reference, flagged) and
/// at the end; in order, without repeats.
fn schedule(secs: Duration, warmup: Duration, interval: Duration) -> Vec<(Duration, bool)> {
    let mut times = vec![(warmup, true), (secs, false)];
    let mut t = interval;
    while t < secs {
        if t != warmup {
            times.push((t, false));
        }
        t += interval;
    }
    times.sort();
    times.dedup_by_key(|(t, _)| *t);
    times
}

/// Whether `end` is within [`FLAT_TOLERANCE`] of `reference`.
pub(crate) fn is_flat(reference: f64, end: f64) -> bool {
    reference > 0.0 && (end - reference).abs() <= reference * FLAT_TOLERANCE
}

/// Run the soak: `call` from `concurrency` tasks until `secs` has passed, sampling the
/// hosts' RSS every `interval`.
pub(crate) async fn run<F, Fut>(
    setup: &Setup<'_>,
    json_out: bool,
    (secs, warmup, interval): (Duration, Duration, Duration),
    payload: usize,
    concurrency: usize,
    host_pids: &[u32],
    call: F,
) -> Verdict
where
    F: Fn() -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = Result<(), String>> + Send + 'static,
{
    let calls = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let first_error = Arc::new(std::sync::Mutex::new(None::<String>));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        let (call, calls, errors, stop, first_error) =
            (call.clone(), calls.clone(), errors.clone(), stop.clone(), first_error.clone());
        tasks.spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                match call().await {
                    Ok(()) => calls.fetch_add(1, Ordering::Relaxed),
                    Err(e) => {
                        first_error.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get_or_insert(e);
                        errors.fetch_add(1, Ordering::Relaxed)
                    }
                };
            }
        });
    }
    let rss = || host_pids.iter().filter_map(|&p| rss_mib(p)).reduce(f64::max).unwrap_or(0.0);
    setup.say(format!(
        "soak: {} s at payload {payload} B, concurrency {concurrency}; reference RSS after {} s, a sample every {} s",
        secs.as_secs_f64(),
        warmup.as_secs_f64(),
        interval.as_secs_f64()
    ));
    if !json_out {
        println!("\n{:>7} | {:>10} {:>8} {:>7} | {:>8}", "t s", "calls", "calls/s", "errors", "host rss");
    }
    let started = Instant::now();
    let mut samples: Vec<Sample> = Vec::new();
    let mut reference: Option<Sample> = None;
    let mut last = (0.0, 0u64);
    for (due, is_reference) in schedule(secs, warmup, interval) {
        tokio::time::sleep_until((started + due).into()).await;
        let sample = Sample {
            t: started.elapsed().as_secs_f64(),
            calls: calls.load(Ordering::Relaxed),
            errors: errors.load(Ordering::Relaxed),
            rss_mib: rss(),
        };
        let rate = sample.calls.saturating_sub(last.1) as f64 / (sample.t - last.0).max(1e-3);
        last = (sample.t, sample.calls);
        if json_out {
            println!(
                "{}",
                json!({"soak_sample": {
                    "t_s": round1(sample.t),
                    "calls": sample.calls,
                    "rps": rate.round() as u64,
                    "errors": sample.errors,
                    "host_rss_mib": round1(sample.rss_mib),
                    "reference": is_reference,
                }})
            );
        } else {
            println!(
                "{:>7.1} | {:>10} {:>8.0} {:>7} | {:>8.1}{}",
                sample.t,
                sample.calls,
                rate,
                sample.errors,
                sample.rss_mib,
                if is_reference { "  (reference: after warm-up)" } else { "" }
            );
        }
        if is_reference {
            reference = Some(sample.clone());
        }
        samples.push(sample);
    }
    stop.store(true, Ordering::Relaxed);
    while tasks.join_next().await.is_some() {}

    let end = samples.last().cloned().unwrap_or(Sample { t: 0.0, calls: 0, errors: 0, rss_mib: 0.0 });
    let reference_rss = reference.as_ref().map_or(0.0, |s| s.rss_mib);
    let peak = samples.iter().map(|s| s.rss_mib).fold(0.0, f64::max);
    let total_calls = calls.load(Ordering::Relaxed);
    let total_errors = errors.load(Ordering::Relaxed);
    let flat = is_flat(reference_rss, end.rss_mib);
    let rps = total_calls as f64 / started.elapsed().as_secs_f64().max(1e-3);
    let growth = if reference_rss > 0.0 { (end.rss_mib - reference_rss) / reference_rss * 100.0 } else { 0.0 };
    if json_out {
        println!(
            "{}",
            json!({"soak": {
                "duration_s": secs.as_secs_f64(),
                "warmup_s": warmup.as_secs_f64(),
                "payload": payload,
                "concurrency": concurrency,
                "calls": total_calls,
                "rps": rps.round() as u64,
                "errors": total_errors,
                "host_rss_reference_mib": round1(reference_rss),
                "host_rss_end_mib": round1(end.rss_mib),
                "host_rss_peak_mib": round1(peak),
                "growth_pct": round1(growth),
                "flat": flat,
            }})
        );
    }
    let summary = format!(
        "soak: {total_calls} calls ({rps:.0}/s), {total_errors} errors; host RSS {reference_rss:.1} MiB after warm-up, \
         {:.1} MiB at the end ({growth:+.1} %), peak {peak:.1} MiB: {}",
        end.rss_mib,
        if flat { "flat (within 10 %)" } else { "NOT flat (more than 10 % off)" }
    );
    setup.say(String::new());
    setup.say(&summary);
    if let Some(e) = first_error.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take() {
        setup.say(format!("first error: {e}"));
    }
    Verdict { errors: total_errors, flat, summary }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    #[test]
    fn flat_means_within_ten_per_cent_either_way() {
        assert!(is_flat(40.0, 40.0));
        assert!(is_flat(40.0, 43.9));
        assert!(is_flat(40.0, 36.1));
        assert!(!is_flat(40.0, 44.1));
        assert!(!is_flat(40.0, 35.9));
        assert!(!is_flat(0.0, 0.0), "no reference sample is not flat");
    }

    #[test]
    fn the_schedule_has_the_reference_once_and_ends_at_the_end() {
        let s = |x: u64| Duration::from_secs(x);
        let times = schedule(s(10), s(5), s(2));
        let expect: Vec<(Duration, bool)> =
            [(2, false), (4, false), (5, true), (6, false), (8, false), (10, false)].map(|(t, r)| (s(t), r)).into();
        assert_eq!(times, expect);
        let times = schedule(s(10), s(4), s(2));
        assert_eq!(times.iter().filter(|(_, r)| *r).count(), 1);
        assert_eq!(times.len(), 5);
        assert_eq!(times.last(), Some(&(s(10), false)));
    }

    #[test]
    fn the_plan_defaults_to_half_the_soak_capped_at_the_replay_window() {
        let args = |soak, soak_warmup, soak_interval| SoakArgs { soak, soak_warmup, soak_interval };
        assert_eq!(args(None, None, None).plan(), Ok(None));
        let (secs, warmup, interval) = args(Some(600.0), None, None).plan().unwrap().unwrap();
        assert_eq!((secs.as_secs(), warmup.as_secs(), interval.as_secs()), (600, 300, 30));
        let (_, warmup, interval) = args(Some(1200.0), None, None).plan().unwrap().unwrap();
        assert_eq!((warmup.as_secs(), interval.as_secs()), (300, 60));
        let (_, warmup, interval) = args(Some(6.0), None, None).plan().unwrap().unwrap();
        assert_eq!((warmup.as_secs(), interval.as_secs()), (3, 1));
        assert!(args(Some(0.0), None, None).plan().is_err());
        assert!(args(Some(10.0), Some(10.0), None).plan().is_err());
        assert!(args(Some(10.0), None, Some(0.0)).plan().is_err());
    }
}
