#!/usr/bin/env bash
# Run every test: the product workspace, then the interop suite against the real
# wasmCloud 0.82-era crates (interop/, its own workspace and lock file).
# Tests that cross the network start their own nats-server (installed here if missing);
# the `lattice bench --http` test drives wrk and the metrics test a real Prometheus
# (both installed here if missing).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-nats.sh
bash scripts/ensure-deb.sh wrk wrk
bash scripts/ensure-deb.sh prometheus prometheus

run_tests() {
  if cargo nextest --version >/dev/null 2>&1; then
    cargo nextest run --no-fail-fast "$@"
  else
    cargo test --no-fail-fast "$@"
  fi
}

echo "== product workspace" >&2
run_tests --workspace
echo "== interop suite (real wasmCloud 0.82-era crates)" >&2
# The interop tests run the product binaries from target/debug (LATTICE_BIN_DIR overrides):
# make sure all three exist even if no product test needed one of them.
cargo build -p lattice -p lattice-httpserver -p lattice-kv
(cd interop && run_tests --locked)
