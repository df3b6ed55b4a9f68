//! End-to-end tests of the `lattice` binary (run as a process).

#![allow(clippy::unwrap_used, reason = "tests unwrap: a panic is the failure report")]

mod bench_actor;
mod control_cli;
mod control_flood;
mod errors;
mod inspect;
mod keys;
mod monitor;
mod monitor_flood;
mod monitor_spy;
mod nats_config;
mod oci;
mod sidedoors;
mod telemetry;
mod up;

use std::io::Write;
use std::process::{Command, Output, Stdio};

/// Stop a child that may still run (a test's `Drop`): SIGTERM, up to 10 s to exit, then
/// SIGKILL; reaped either way.
pub(crate) fn terminate(child: &mut std::process::Child) {
    if child.try_wait().ok().flatten().is_none() {
        let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while std::time::Instant::now() < deadline && child.try_wait().ok().flatten().is_none() {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// Run `lattice ARGS` with `stdin` and return its output.
pub(crate) fn lattice(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_lattice"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    child.wait_with_output().unwrap()
}
