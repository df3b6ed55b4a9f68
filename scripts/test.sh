#!/usr/bin/env bash
# Run every test: the product workspace, then the interop suite against the real
# wasmCloud 0.82-era crates (interop/, its own workspace and lock file).
# Tests that cross the network start their own nats-server (installed here if missing);
# the `lattice bench --http` test drives wrk, the metrics test a real Prometheus, the OCI
# tests docker-registry, and the dashboard's browser test chromium through chromedriver
# (all installed here if missing; chromium and its driver together, so versions match).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-nats.sh
bash scripts/ensure-deb.sh wrk wrk
bash scripts/ensure-deb.sh chromedriver chromium chromium-driver
bash scripts/ensure-deb.sh chromium chromium chromium-driver
bash scripts/ensure-deb.sh prometheus prometheus
# OCI tests push to and pull from a real registry (CNCF distribution 2.8, Debian package).
bash scripts/ensure-deb.sh docker-registry docker-registry

run_tests() {
  if cargo nextest --version >/dev/null 2>&1; then
    cargo nextest run --no-fail-fast "$@"
  else
    cargo test --no-fail-fast "$@"
  fi
}

echo "== product workspace" >&2
# `--workspace` builds every binary (lattice, lattice-httpserver, lattice-kv) before any
# test runs: tests that run them as processes need not build them again.
LATTICE_TEST_PREBUILT=1 run_tests --workspace
echo "== interop suite (real wasmCloud 0.82-era crates)" >&2
# The interop tests run the product binaries from target/debug (LATTICE_BIN_DIR overrides):
# make sure all three exist even if no product test needed one of them.
cargo build -p lattice -p lattice-httpserver -p lattice-kv -p lattice-example-messaging-provider
(cd interop && run_tests --locked)
