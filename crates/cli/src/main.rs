//! `lattice` — the command line of the Lattice RPC bus.
//!
//! One verb per module under `cmd/`; this file only parses arguments, dispatches, and
//! turns failures into the exit codes of CONVENTIONS.md (0 done, 1 the answer is no,
//! 2 bad input or usage, 3 I/O), with one `error:` line on stderr.

mod cmd;
mod exit;

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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Keys(args) => cmd::keys::run(args),
        Command::Inspect(args) => cmd::inspect::run(args),
    };
    exit::report(result)
}
