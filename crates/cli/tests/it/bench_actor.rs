//! `lattice bench --actor` end to end (not timed): the bench starts its own nats-server and
//! a real `lattice up` host process, runs short cells and reports well-formed JSON Lines
//! with every field and no failed call.

use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::Value;

use super::lattice;

/// The fields every cell carries (issue 10, CONVENTIONS.md "Benchmarks").
const FIELDS: [&str; 13] = [
    "payload",
    "concurrency",
    "raw_rps",
    "actor_rps",
    "ratio",
    "raw_p50_us",
    "actor_p50_us",
    "raw_p99_us",
    "actor_p99_us",
    "errors",
    "host_cpu_us_per_call",
    "host_rss_mib",
    "instances",
];

#[test]
fn bench_actor_runs_cells_through_a_host_process_without_errors() {
    let out = Command::new(env!("CARGO_BIN_EXE_lattice"))
        .args(["bench", "--actor", "--instances", "4", "--json", "--duration", "0.5", "--warmup", "0.2"])
        .args(["--payloads", "0,65536", "--concurrency", "1,4"])
        .env_remove("LATTICE_NAME")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "exit {:?}\nstdout:\n{stdout}\nstderr:\n{stderr}", out.status);

    let lines: Vec<Value> =
        stdout.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l:?}"))).collect();
    let machine = &lines[0]["machine"];
    assert!(machine["nproc"].as_u64().unwrap() >= 1, "{machine}");
    assert!(machine["model"].is_string(), "{machine}");

    let cells = &lines[1..];
    let shape: Vec<(u64, u64)> =
        cells.iter().map(|c| (c["payload"].as_u64().unwrap(), c["concurrency"].as_u64().unwrap())).collect();
    assert_eq!(shape, [(0, 1), (0, 4), (65536, 1), (65536, 4)], "{stdout}");
    for cell in cells {
        for field in FIELDS {
            assert!(cell.get(field).is_some_and(|v| !v.is_null()), "no {field} in {cell}");
        }
        assert_eq!(cell["errors"], 0, "{cell}\nstderr:\n{stderr}");
        assert!(cell["actor_rps"].as_u64().unwrap() > 0, "{cell}");
        assert!(cell["raw_rps"].as_u64().unwrap() > 0, "{cell}");
        assert!(cell["actor_p50_us"].as_u64().unwrap() > 0, "{cell}");
        assert!(cell["actor_p99_us"].as_u64().unwrap() >= cell["actor_p50_us"].as_u64().unwrap(), "{cell}");
        assert!(cell["host_rss_mib"].as_f64().unwrap() > 1.0, "{cell}");
        assert!(cell["host_cpu_us_per_call"].as_f64().unwrap() >= 0.0, "{cell}");
        assert_eq!(cell["instances"], 4, "{cell}");
        let ratio = cell["ratio"].as_f64().unwrap();
        assert!(ratio > 0.0 && ratio.is_finite(), "{cell}");
    }
    // The host was stopped and its scratch directory removed.
    let started = stderr.lines().find(|l| l.contains("host process ")).unwrap_or_default();
    let pid = started.split("host process ").nth(1).and_then(|r| r.split_whitespace().next()).unwrap_or_default();
    assert!(!pid.is_empty(), "no host pid in stderr:\n{stderr}");
    assert!(!Path::new(&format!("/proc/{pid}")).exists(), "the host process {pid} is still running");
}

#[test]
fn bench_actor_refuses_zero_instances_and_instances_without_actor() {
    let out = lattice(&["bench", "--actor", "--instances", "0", "--json"], b"");
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).starts_with("error:"));
    assert!(out.stdout.is_empty());

    let out = lattice(&["bench", "--instances", "4"], b"");
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
}
