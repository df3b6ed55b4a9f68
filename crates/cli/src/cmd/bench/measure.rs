//! The measurement every bench mode shares: raw and Lattice runs alternated in
//! half-second slices under the same load, latency percentiles, and CPU time per call of
//! this process and of other processes (from `/proc`).

use std::time::{Duration, Instant};

use tokio::task::JoinSet;

/// One measured run.
#[derive(Clone, Debug, Default)]
pub(crate) struct RunStats {
    pub(crate) calls: u64,
    pub(crate) errors: u64,
    pub(crate) rps: f64,
    pub(crate) p50_us: u64,
    pub(crate) p99_us: u64,
    /// This process' CPU time per call.
    pub(crate) cpu_proc_us: f64,
    /// The nats-server's CPU time per call (when we know its pid).
    pub(crate) cpu_broker_us: Option<f64>,
}

pub(crate) fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

/// How long each side runs at a time when raw and Lattice runs are interleaved.
const SLICE: Duration = Duration::from_millis(500);

/// Warm up both sides, then alternate slices of `raw` and `lattice` (in alternating
/// order) until each has run for `duration`. Both sides thus see the same background load,
/// so the ratio stays meaningful on a shared machine.
pub(crate) async fn measure_pair<R, RFut, L, LFut>(
    concurrency: usize,
    warmup: Duration,
    duration: Duration,
    broker_pids: &[u32],
    raw: R,
    lattice: L,
) -> (RunStats, RunStats)
where
    R: Fn() -> RFut + Clone + Send + 'static,
    RFut: std::future::Future<Output = Result<(), String>> + Send + 'static,
    L: Fn() -> LFut + Clone + Send + 'static,
    LFut: std::future::Future<Output = Result<(), String>> + Send + 'static,
{
    if !warmup.is_zero() {
        run_loops(concurrency, warmup, raw.clone()).await;
        run_loops(concurrency, warmup, lattice.clone()).await;
    }
    let slices = (duration.as_secs_f64() / SLICE.as_secs_f64()).ceil().max(1.0) as u32;
    let slice = duration / slices;
    let (mut a, mut b) = (Acc::default(), Acc::default());
    for i in 0..slices {
        if i % 2 == 0 {
            a.run(concurrency, slice, broker_pids, raw.clone()).await;
            b.run(concurrency, slice, broker_pids, lattice.clone()).await;
        } else {
            b.run(concurrency, slice, broker_pids, lattice.clone()).await;
            a.run(concurrency, slice, broker_pids, raw.clone()).await;
        }
    }
    (a.finish(), b.finish())
}

/// Latencies, errors, time and CPU ticks gathered over one or more runs of one side.
#[derive(Default)]
struct Acc {
    latencies: Vec<u32>,
    errors: u64,
    elapsed: f64,
    proc_ticks: Option<u64>,
    broker_ticks: Option<u64>,
}

impl Acc {
    async fn run<F, Fut>(&mut self, concurrency: usize, duration: Duration, broker_pids: &[u32], call: F)
    where
        F: Fn() -> Fut + Clone + Send + 'static,
        Fut: std::future::Future<Output = Result<(), String>> + Send + 'static,
    {
        let cpu_before = cpu_ticks(None);
        let brokers = || -> Option<u64> {
            if broker_pids.is_empty() { None } else { broker_pids.iter().map(|&p| cpu_ticks(Some(p))).sum() }
        };
        let broker_before = brokers();
        let started = Instant::now();
        let (latencies, errors) = run_loops(concurrency, duration, call).await;
        self.elapsed += started.elapsed().as_secs_f64();
        let used = |before: Option<u64>, after: Option<u64>| Some(after?.saturating_sub(before?));
        let add = |total: Option<u64>, more: Option<u64>| Some(total.unwrap_or(0) + more?);
        self.proc_ticks = add(self.proc_ticks, used(cpu_before, cpu_ticks(None)));
        self.broker_ticks = add(self.broker_ticks, used(broker_before, brokers()));
        self.latencies.extend(latencies);
        self.errors += errors;
    }

    fn finish(mut self) -> RunStats {
        self.latencies.sort_unstable();
        let calls = self.latencies.len() as u64;
        let per_call = |ticks: Option<u64>| match ticks {
            Some(t) if calls > 0 => Some(t as f64 * TICK_US / calls as f64),
            _ => None,
        };
        RunStats {
            calls,
            errors: self.errors,
            rps: if self.elapsed > 0.0 { calls as f64 / self.elapsed } else { 0.0 },
            p50_us: percentile(&self.latencies, 0.50),
            p99_us: percentile(&self.latencies, 0.99),
            cpu_proc_us: per_call(self.proc_ticks).unwrap_or(0.0),
            cpu_broker_us: per_call(self.broker_ticks),
        }
    }
}

/// `concurrency` tasks calling until `duration` has passed; successful call latencies (µs)
/// and the error count.
async fn run_loops<F, Fut>(concurrency: usize, duration: Duration, call: F) -> (Vec<u32>, u64)
where
    F: Fn() -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = Result<(), String>> + Send + 'static,
{
    let end = Instant::now() + duration;
    let mut tasks = JoinSet::new();
    for _ in 0..concurrency {
        let call = call.clone();
        tasks.spawn(async move {
            let mut latencies = Vec::with_capacity(1 << 16);
            let mut errors = 0u64;
            let mut first_error = None;
            loop {
                let t = Instant::now();
                if t >= end {
                    break;
                }
                match call().await {
                    Ok(()) => latencies.push(t.elapsed().as_micros().min(u32::MAX as u128) as u32),
                    Err(e) => {
                        errors += 1;
                        first_error.get_or_insert(e);
                    }
                }
            }
            (latencies, errors, first_error)
        });
    }
    let mut all = Vec::new();
    let mut errors = 0;
    let mut first_error = None;
    while let Some(done) = tasks.join_next().await {
        if let Ok((latencies, e, first)) = done {
            all.extend(latencies);
            errors += e;
            if first_error.is_none() {
                first_error = first;
            }
        }
    }
    if let Some(e) = first_error {
        eprintln!("bench: {errors} calls failed, first: {e}");
    }
    (all, errors)
}

fn percentile(sorted: &[u32], q: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let i = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len()) - 1;
    u64::from(sorted[i])
}

/// Microseconds per clock tick of `/proc/*/stat` (USER_HZ is 100 on Linux).
const TICK_US: f64 = 10_000.0;

/// User + system CPU ticks of this process (or of `pid`), from `/proc`.
pub(crate) fn cpu_ticks(pid: Option<u32>) -> Option<u64> {
    let path = match pid {
        Some(p) => format!("/proc/{p}/stat"),
        None => "/proc/self/stat".to_owned(),
    };
    let stat = std::fs::read_to_string(path).ok()?;
    // Fields after the `(comm)`: state is field 3, utime 14, stime 15.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}
