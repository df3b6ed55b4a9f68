//! `lattice` — the command line of the Lattice RPC bus.
//!
//! One verb per module under `cmd/`; this file only parses arguments, dispatches, and
//! turns failures into the exit codes of CONVENTIONS.md (0 done, 1 the answer is no,
//! 2 bad input or usage, 3 I/O), with one `error:` line on stderr.

mod cmd;
mod common;

/// `crate::exit` is where every verb takes its `Failure` / `Outcome` from.
use common::exit;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Lattice: a secure, wasmCloud 0.82-compatible RPC bus over NATS.
#[derive(Parser)]
#[command(name = "lattice", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Generate nkeys (account, cluster, actor, provider, host).
    Keys(cmd::keys::Args),
    /// Decode one RPC message from stdin and (with --issuer) verify its claims.
    Inspect(cmd::inspect::Args),
    /// Benchmark Lattice calls (sign + verify + msgpack) against raw NATS request/reply.
    Bench(cmd::bench::Args),
    /// Watch the lattice's RPC traffic and alert on every forged or replayed invocation.
    Monitor(cmd::monitor::Args),
    /// Show the invocations to and from one actor or provider, live and decoded.
    Spy(cmd::spy::Args),
    /// Sign an actor module with wascap claims, or inspect a module's claims.
    Claims(cmd::claims::Args),
    /// Pack or inspect a provider archive (.par / .par.gz, the wasmCloud 0.82 format).
    Par(cmd::par::Args),
    /// Call an actor or provider with one signed invocation and print the reply.
    Call(cmd::call::Args),
    /// Put, delete or list link definitions.
    Link(cmd::link::Args),
    /// List hosts, inventories, links or claims of the lattice.
    Get(cmd::get::Args),
    /// Start an actor or a provider on a host (an auction picks one without --host).
    Start(cmd::start::Args),
    /// Stop an actor, a provider or a host.
    Stop(cmd::stop::Args),
    /// Scale a running actor (set its max_instances).
    Scale(cmd::scale::Args),
    /// Show the lattice's events, live.
    Events(cmd::events::Args),
    /// Run a host: wasm actors, providers, links (--demo for the HTTP counter demo).
    Up(Box<cmd::up::Args>),
    /// Push a signed actor module or a provider archive to an OCI registry (like `wash push`).
    Push(cmd::push::Args),
    /// Pull an actor or provider archive from an OCI registry into the cache; show its claims.
    Pull(cmd::pull::Args),
    /// Serve a live web dashboard of the lattice (hosts, links, call graph, alerts).
    Ui(cmd::ui::Args),
    /// Write a least-privilege nats-server configuration (one nkey user per role).
    NatsConfig(cmd::nats_config::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Keys(args) => cmd::keys::run(args),
        Command::Inspect(args) => cmd::inspect::run(args),
        Command::Bench(args) => cmd::bench::run(args),
        Command::Monitor(args) => cmd::monitor::run(args),
        Command::Spy(args) => cmd::spy::run(args),
        Command::Claims(args) => cmd::claims::run(args),
        Command::Par(args) => cmd::par::run(args),
        Command::Call(args) => cmd::call::run(args),
        Command::Link(args) => cmd::link::run(args),
        Command::Get(args) => cmd::get::run(args),
        Command::Start(args) => cmd::start::run(args),
        Command::Stop(args) => cmd::stop::run(args),
        Command::Scale(args) => cmd::scale::run(args),
        Command::Events(args) => cmd::events::run(args),
        Command::Up(args) => cmd::up::run(*args),
        Command::Push(args) => cmd::push::run(args),
        Command::Pull(args) => cmd::pull::run(args),
        Command::Ui(args) => cmd::ui::run(args),
        Command::NatsConfig(args) => cmd::nats_config::run(args),
    };
    exit::report(result)
}
