//! `lattice bench`: what Lattice's signed, verified calls cost next to raw NATS.
//!
//! Three modes, one module each: [`rpc`] (RpcClient against an RpcServer in this process,
//! the default), [`actor`] (`--actor`: through a wasm actor on `lattice up` host
//! processes) and [`http`] (`--http`: HTTP end to end with wrk). They share the flags
//! ([`args`]), the set-up — NATS server, machine facts, host processes — ([`setup`]) and
//! the measurement — alternating raw/Lattice slices, latency percentiles, CPU time per
//! call — ([`measure`]). Dependencies point one way: mode → setup/measure/args, never
//! between modes.

mod actor;
mod args;
mod http;
mod measure;
mod rpc;
mod setup;
mod soak;

use anyhow::{Context, anyhow};
use lattice_proto::LatticeName;

pub(crate) use args::Args;

use crate::exit::{Failure, Outcome};

/// Run `lattice bench`.
pub(crate) fn run(mut args: Args) -> Outcome {
    if args.payloads.is_empty() {
        // The cells issue 10 names: HTTP end to end is measured with 1 KiB bodies.
        args.payloads = if args.actor.http { vec![1024] } else { vec![0, 1024, 65536] };
    }
    if !(args.duration > 0.0 && args.duration.is_finite() && args.warmup >= 0.0 && args.warmup.is_finite()) {
        return Err(Failure::bad_input(anyhow!("--duration must be > 0 and --warmup >= 0 seconds")));
    }
    if args.concurrency.contains(&0) || args.concurrency.is_empty() {
        return Err(Failure::bad_input(anyhow!("--concurrency values must be >= 1")));
    }
    let lattice = LatticeName::new(args.lattice.clone()).map_err(Failure::bad_input)?;
    if args.actor.actor {
        return actor::run(&args, lattice);
    }
    if args.actor.http {
        return http::run(&args, lattice);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting tokio")?;
    runtime.block_on(rpc::bench(args, lattice)).map_err(Failure::from)
}
