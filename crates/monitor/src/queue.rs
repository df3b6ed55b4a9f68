//! The verification queue between the monitor's reader and its worker threads.
//!
//! Why its own module: the queue holds the one policy that decides what a flood costs.
//! Invocations wait here, sharded by invocation id (one shard per worker), before a worker
//! verifies them. Two bounds apply:
//!
//! * **Bytes, across all shards** ([`crate::monitor::DEFAULT_MAX_QUEUED_BYTES`]): when a new
//!   invocation does not fit, the **oldest** queued invocations are dropped (and counted)
//!   to make room, first from the new one's own shard, then from the fullest one. The
//!   newest traffic always gets in: after a flood of large forged messages, the next
//!   forged invocation waits at most one budget's worth of verification, instead of being
//!   dropped because the queue is still full of the flood (issue 16: the next forgery
//!   alerted within 2 s). Bytes count until a worker has *finished* a job, so jobs being
//!   verified stay inside the budget too.
//! * **Jobs per shard** (backpressure): a full shard makes the reader wait (NATS' own
//!   buffer absorbs the burst), so that a burst of small genuine calls is verified late
//!   rather than dropped.
//!
//! The reader is async and the workers are blocking threads, so the queue is a mutex
//! with a condition variable per shard (workers wait on it) and a [`tokio::sync::Notify`]
//! (the reader waits on it for room). Critical sections only move jobs.

use std::collections::VecDeque;
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};

use tokio::sync::Notify;

/// The queue was closed: the reader stopped, or a worker could not go on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Closed;

/// What [`VerifyQueue::push`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Pushed {
    /// Older queued jobs dropped to make room for this one.
    pub evicted: usize,
    /// False when the job alone is larger than the whole budget: it was dropped itself.
    pub queued: bool,
}

struct Shard<T> {
    jobs: VecDeque<(usize, T)>,
    bytes: usize,
}

struct State<T> {
    shards: Vec<Shard<T>>,
    /// Bytes of queued jobs plus jobs taken by a worker and not yet finished.
    bytes: usize,
    closed: bool,
}

/// A sharded queue bounded in bytes (dropping the oldest) and in jobs per shard (waiting).
pub(crate) struct VerifyQueue<T> {
    state: Mutex<State<T>>,
    /// One per shard: its worker waits here for jobs.
    ready: Vec<Condvar>,
    /// The reader waits here for room in a full shard.
    room: Notify,
    max_bytes: usize,
    max_jobs: usize,
}

impl<T> VerifyQueue<T> {
    /// `shards` queues (at least one) sharing `max_bytes`, each holding `max_jobs` at most.
    pub(crate) fn new(shards: usize, max_bytes: usize, max_jobs: usize) -> Self {
        let shards = shards.max(1);
        VerifyQueue {
            state: Mutex::new(State {
                shards: (0..shards).map(|_| Shard { jobs: VecDeque::new(), bytes: 0 }).collect(),
                bytes: 0,
                closed: false,
            }),
            ready: (0..shards).map(|_| Condvar::new()).collect(),
            room: Notify::new(),
            max_bytes,
            max_jobs: max_jobs.max(1),
        }
    }

    /// How many shards.
    pub(crate) fn shards(&self) -> usize {
        self.ready.len()
    }

    fn lock(&self) -> MutexGuard<'_, State<T>> {
        // A panic while holding the lock leaves the state consistent (only whole jobs
        // move under it), so a poisoned lock is still usable.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queue `job` (costing `cost` bytes) on `shard`, dropping the oldest jobs if the byte
    /// budget is full; waits while the shard holds `max_jobs`. Errs once closed.
    pub(crate) async fn push(&self, shard: usize, cost: usize, job: T) -> Result<Pushed, Closed> {
        let shard = shard % self.shards();
        loop {
            let room = self.room.notified();
            tokio::pin!(room);
            // Registered before looking, so a worker's notify between the look and the
            // wait is not missed.
            room.as_mut().enable();
            {
                let mut state = self.lock();
                if state.closed {
                    return Err(Closed);
                }
                if state.shards[shard].jobs.len() < self.max_jobs {
                    let pushed = self.admit(&mut state, shard, cost, job);
                    if pushed.queued {
                        self.ready[shard].notify_one();
                    }
                    return Ok(pushed);
                }
            }
            room.await;
        }
    }

    /// Make room for `cost` bytes by dropping the oldest jobs, then queue the job.
    fn admit(&self, state: &mut State<T>, shard: usize, cost: usize, job: T) -> Pushed {
        if cost > self.max_bytes {
            return Pushed { evicted: 0, queued: false };
        }
        let mut evicted = 0;
        while state.bytes.saturating_add(cost) > self.max_bytes {
            // Own shard first (its worker would verify these before the new job anyway),
            // then whichever shard holds the most bytes.
            let from = if state.shards[shard].jobs.is_empty() {
                match (0..state.shards.len())
                    .filter(|&i| !state.shards[i].jobs.is_empty())
                    .max_by_key(|&i| state.shards[i].bytes)
                {
                    Some(i) => i,
                    // Everything over budget is being verified right now: nothing queued
                    // can go, so the new job does not fit.
                    None => return Pushed { evicted, queued: false },
                }
            } else {
                shard
            };
            if let Some((old, _)) = state.shards[from].jobs.pop_front() {
                state.shards[from].bytes -= old;
                state.bytes -= old;
                evicted += 1;
            }
        }
        state.shards[shard].jobs.push_back((cost, job));
        state.shards[shard].bytes += cost;
        state.bytes += cost;
        Pushed { evicted, queued: true }
    }

    /// Block until `shard` has jobs, then move up to `max` of them (oldest first) into `out`
    /// with their costs. Returns false once the queue is closed and the shard is empty.
    pub(crate) fn pop_batch(&self, shard: usize, max: usize, out: &mut Vec<(usize, T)>) -> bool {
        let shard = shard % self.shards();
        let mut state = self.lock();
        while state.shards[shard].jobs.is_empty() {
            if state.closed {
                return false;
            }
            state = self.ready[shard].wait(state).unwrap_or_else(PoisonError::into_inner);
        }
        let was_full = state.shards[shard].jobs.len() >= self.max_jobs;
        let n = state.shards[shard].jobs.len().min(max.max(1));
        let mut taken = 0;
        for (cost, job) in state.shards[shard].jobs.drain(..n) {
            taken += cost;
            out.push((cost, job));
        }
        // Still counted in `state.bytes` until the worker calls `done`.
        state.shards[shard].bytes -= taken;
        drop(state);
        if was_full {
            self.room.notify_waiters();
        }
        true
    }

    /// A worker finished jobs costing `cost` bytes: release them from the budget.
    pub(crate) fn done(&self, cost: usize) {
        let mut state = self.lock();
        state.bytes = state.bytes.saturating_sub(cost);
    }

    /// Bytes queued or being verified.
    pub(crate) fn bytes(&self) -> usize {
        self.lock().bytes
    }

    /// No more jobs: the workers finish what is queued and stop, the reader's pushes fail.
    pub(crate) fn close(&self) {
        self.lock().closed = true;
        for ready in &self.ready {
            ready.notify_all();
        }
        self.room.notify_waiters();
    }
}

impl<T> std::fmt::Debug for VerifyQueue<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifyQueue")
            .field("shards", &self.shards())
            .field("max_bytes", &self.max_bytes)
            .field("max_jobs", &self.max_jobs)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;

    fn popped(q: &VerifyQueue<u32>, shard: usize) -> Vec<u32> {
        let mut out = Vec::new();
        assert!(q.pop_batch(shard, 1000, &mut out));
        q.done(out.iter().map(|(c, _)| c).sum());
        out.into_iter().map(|(_, j)| j).collect()
    }

    #[tokio::test]
    async fn a_full_budget_drops_the_oldest_not_the_newest() {
        let q = VerifyQueue::new(1, 100, 1000);
        for i in 0..10 {
            assert_eq!(q.push(0, 10, i).await, Ok(Pushed { evicted: 0, queued: true }));
        }
        // The budget is full: the next job goes in, the oldest goes out.
        assert_eq!(q.push(0, 10, 10).await, Ok(Pushed { evicted: 1, queued: true }));
        assert_eq!(q.push(0, 25, 11).await, Ok(Pushed { evicted: 3, queued: true }));
        assert_eq!(q.bytes(), 95);
        assert_eq!(popped(&q, 0), vec![4, 5, 6, 7, 8, 9, 10, 11]);
        assert_eq!(q.bytes(), 0);
    }

    #[tokio::test]
    async fn room_comes_from_the_own_shard_first_then_the_fullest() {
        let q = VerifyQueue::new(3, 100, 1000);
        for i in 0..6 {
            q.push(0, 10, i).await.ok();
        }
        for i in 10..13 {
            q.push(1, 10, i).await.ok();
        }
        q.push(2, 10, 20).await.ok();
        // Own shard (2) has a job: it goes first.
        assert_eq!(q.push(2, 10, 21).await, Ok(Pushed { evicted: 1, queued: true }));
        assert_eq!(popped(&q, 2), vec![21]);
        // Shard 2 empty now, budget at 90: a 20-byte job evicts one from the fullest (0).
        assert_eq!(q.push(2, 20, 22).await, Ok(Pushed { evicted: 1, queued: true }));
        assert_eq!(popped(&q, 0), vec![1, 2, 3, 4, 5]);
        assert_eq!(popped(&q, 1), vec![10, 11, 12]);
        assert_eq!(popped(&q, 2), vec![22]);
    }

    #[tokio::test]
    async fn a_job_larger_than_the_budget_or_than_what_is_left_beside_work_in_progress_is_refused() {
        let q = VerifyQueue::new(1, 100, 1000);
        assert_eq!(q.push(0, 101, 1).await, Ok(Pushed { evicted: 0, queued: false }));
        q.push(0, 90, 2).await.ok();
        // Taken by a worker, not finished: still counts, and cannot be evicted.
        let mut out = Vec::new();
        assert!(q.pop_batch(0, 10, &mut out));
        assert_eq!(q.push(0, 20, 3).await, Ok(Pushed { evicted: 0, queued: false }));
        q.done(90);
        assert_eq!(q.push(0, 20, 4).await, Ok(Pushed { evicted: 0, queued: true }));
    }

    #[tokio::test]
    async fn a_full_shard_makes_the_reader_wait_until_a_worker_takes_jobs() {
        let q = Arc::new(VerifyQueue::new(1, 1 << 20, 2));
        q.push(0, 1, 1).await.ok();
        q.push(0, 1, 2).await.ok();
        let pusher = tokio::spawn({
            let q = q.clone();
            async move { q.push(0, 1, 3).await }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!pusher.is_finished(), "a full shard must make the push wait");
        let worker = std::thread::spawn({
            let q = q.clone();
            move || {
                let mut out = Vec::new();
                q.pop_batch(0, 1, &mut out);
                out.len()
            }
        });
        assert_eq!(worker.join().ok(), Some(1));
        let pushed = tokio::time::timeout(Duration::from_secs(10), pusher).await;
        assert_eq!(pushed.ok().and_then(|r| r.ok()), Some(Ok(Pushed { evicted: 0, queued: true })));
    }

    #[tokio::test]
    async fn closing_lets_workers_drain_then_stop_and_refuses_pushes() {
        let q = Arc::new(VerifyQueue::new(2, 100, 10));
        q.push(1, 1, 7).await.ok();
        let idle = std::thread::spawn({
            let q = q.clone();
            move || {
                let mut out = Vec::new();
                q.pop_batch(0, 10, &mut out)
            }
        });
        q.close();
        assert_eq!(idle.join().ok(), Some(false), "an idle worker wakes and stops");
        assert_eq!(popped(&q, 1), vec![7], "queued work is still handed out");
        let mut out = Vec::new();
        assert!(!q.pop_batch(1, 10, &mut out));
        assert_eq!(q.push(0, 1, 8).await, Err(Closed));
    }
}
