//! The flags of `lattice bench` (every mode).

use std::path::PathBuf;

/// Arguments of `lattice bench`.
#[derive(clap::Args)]
pub(crate) struct Args {
    /// The NATS server to use; without it the bench starts its own nats-server.
    #[arg(long, value_name = "URL")]
    pub(crate) nats_url: Option<String>,
    /// NATS credentials file (for `--nats-url`).
    #[arg(long, value_name = "FILE")]
    pub(crate) creds: Option<PathBuf>,
    /// The lattice the benchmark entities live in.
    #[arg(long, default_value = "default", env = "LATTICE_NAME")]
    pub(crate) lattice: String,
    /// Seconds measured per run (each cell runs raw, then lattice).
    #[arg(long, default_value_t = 5.0)]
    pub(crate) duration: f64,
    /// Seconds of warm-up before each measured run.
    #[arg(long, default_value_t = 0.5)]
    pub(crate) warmup: f64,
    /// Payload sizes in bytes, comma-separated [default: 0,1024,65536; with --http: 1024]
    #[arg(long, value_delimiter = ',')]
    pub(crate) payloads: Vec<usize>,
    /// Concurrent callers, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1,64")]
    pub(crate) concurrency: Vec<usize>,
    /// JSON Lines on stdout (a machine line, then one object per cell).
    #[arg(long)]
    pub(crate) json: bool,
    /// `--actor`, `--instances`: through a wasm actor on a host process instead.
    #[command(flatten)]
    pub(crate) actor: ActorArgs,
}

/// The `--actor` flags of `lattice bench`.
#[derive(clap::Args, Clone, Debug)]
pub(crate) struct ActorArgs {
    /// Benchmark signed `HttpServer.HandleRequest` calls to the echo wasm actor through a
    /// `lattice up` host process (started by the bench), against raw NATS.
    #[arg(long, group = "host_mode")]
    pub(crate) actor: bool,
    /// Benchmark HTTP end to end with `wrk`: the lattice-httpserver provider linked to the
    /// echo actor on a `lattice up` host process, against a plain HTTP echo server.
    #[arg(long, group = "host_mode", conflicts_with = "actor")]
    pub(crate) http: bool,
    /// With --actor or --http: the echo actor's max_instances on the host.
    #[arg(long, default_value_t = 64, value_name = "N", requires = "host_mode")]
    pub(crate) instances: u32,
    /// With --actor: how many host processes serve the actor (one queue group); each
    /// cell then reports every host's share of the calls.
    #[arg(long, default_value_t = 1, value_name = "N", requires = "actor", value_parser = clap::value_parser!(u32).range(1..=8))]
    pub(crate) hosts: u32,
    /// With --actor: the host's tokio worker threads (`TOKIO_WORKER_THREADS` of the host
    /// process; default: one per CPU), for experiments.
    #[arg(long, value_name = "N", hide = true)]
    pub(crate) host_workers: Option<usize>,
    /// `--soak SECS`: one long run sampling the host's memory (issue 17).
    #[command(flatten)]
    pub(crate) soak: super::soak::SoakArgs,
}
