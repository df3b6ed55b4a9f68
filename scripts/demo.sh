#!/usr/bin/env bash
# The demo: a Lattice host serving the counter actor over HTTP, with a key-value provider.
#
#   bash scripts/demo.sh                 # then, in another terminal:
#   curl http://127.0.0.1:8080/          # {"counter":1}, {"counter":2}, …
#
# Builds the three binaries, installs nats-server when missing (Debian package), and runs
# `lattice up --demo`, which starts a nats-server itself when none answers on
# nats://127.0.0.1:4222. Extra arguments go to `lattice up` (e.g. --http-port 9090).
# Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-nats.sh
echo "== building lattice, lattice-httpserver, lattice-kv" >&2
cargo build -q -p lattice -p lattice-httpserver -p lattice-kv
exec target/debug/lattice up --demo "$@"
