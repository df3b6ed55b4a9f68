#!/usr/bin/env bash
# The demo behind least-privilege NATS: `lattice nats-config` writes a nats-server
# configuration with one nkey user per role, a nats-server runs it, and the host, its
# providers, and the control verbs each log in with their own role's seed.
#
#   bash scripts/demo-secure.sh            # then, in another terminal:
#   curl http://127.0.0.1:8080/            # {"counter":1}, {"counter":2}, …
#   N=target/nats-demo; target/debug/lattice get links --nats-url nats://127.0.0.1:4333 --nkey-seed-file $N/control.nk
#
# The config and seeds go to $LATTICE_NATS_DIR (default target/nats-demo, reused across
# runs); the server listens on $NATS_PORT (default 4333). Extra arguments go to `lattice up`.
# Ctrl-C stops everything. docs/OPERATIONS.md "Least-privilege NATS" explains the roles.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-nats.sh
echo "== building lattice, lattice-httpserver, lattice-kv" >&2
cargo build -q -p lattice -p lattice-httpserver -p lattice-kv
dir="${LATTICE_NATS_DIR:-target/nats-demo}"
port="${NATS_PORT:-4333}"
target/debug/lattice nats-config --lattice default --out "$dir" --store-dir "$dir/jetstream" >&2
# setsid: Ctrl-C reaches the host, which stops first; the server is stopped after it.
setsid "${LATTICE_NATS_SERVER:-nats-server}" -c "$dir/nats-server.conf" -a 127.0.0.1 -p "$port" >"$dir/nats-server.log" 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null || true' EXIT
for _ in $(seq 1 50); do
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  sleep 0.1
done
echo "== nats-server (pid $server) on 127.0.0.1:$port with $dir/nats-server.conf; log in $dir/nats-server.log" >&2
target/debug/lattice up --manifest examples/demo.toml --nats-url "nats://127.0.0.1:$port" \
  --nkey-seed-file "$dir/host.nk" --provider-nkey-seed-file "$dir/provider.nk" "$@" &
host=$!
# Stop the host first (it stops its providers), then the server.
stop() {
  kill -TERM "$host" 2>/dev/null || true
  while kill -0 "$host" 2>/dev/null; do sleep 0.1; done
  kill "$server" 2>/dev/null || true
}
trap stop EXIT
trap 'exit 130' INT TERM
wait "$host"
