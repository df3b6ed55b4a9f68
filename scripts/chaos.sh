#!/usr/bin/env bash
# Chaos runs for issue 17: what a broker restart and the loss of a cluster node cost the
# demo (HTTP client -> lattice-httpserver -> host -> counter actor -> lattice-kv -> JetStream
# KV), one request at a time, and whether the counter ever lost an acknowledged increment.
#
#   bash scripts/chaos.sh                # all scenarios (builds the release binaries first)
#   bash scripts/chaos.sh restart        # broker restarts only (1 s and 10 s outages)
#   bash scripts/chaos.sh failover       # 3-node cluster: non-leader node, then leader kill
#   LATTICE_BIN=target/debug bash scripts/chaos.sh restart   # other binaries, no build
#
# Scenarios:
#   restart 1 / restart 10: nats-server SIGKILLed, started again after 1 s / 10 s on the same
#     port with the same JetStream store. "back" = its client port accepts connections again.
#     Reported: first success after back (target <= 0.5 s), the longest request while it
#     was down (fail fast: the HTTP server answers 503 + Retry-After at once), 503s.
#   failover node: a 3-node cluster (--js-replicas 3); the node the host's RPC connection
#     uses is killed, chosen among the nodes that lead no stream of the counter. Reported:
#     the longest gap without a successful request (target < 1 s).
#   failover leader: the node leading the counter bucket's stream (found with
#     $JS.API.STREAM.INFO) is killed. Reported: the longest gap without a success (the
#     counter is a JetStream write, so this is the stream's leader election), and
#     separately the longest gap of plain actor calls that touch no JetStream (the echo
#     actor behind the same HTTP server provider on a second port, loaded alongside).
# After each scenario: every counter value a 200 answered is <= the final count, and values
# never went backwards (no acknowledged increment lost).
set -euo pipefail
cd "$(dirname "$0")/.."

SCENARIOS="${1:-all}"
BIN="${LATTICE_BIN:-}"
need() { command -v "$1" >/dev/null || { echo "error: $1 is needed (Debian package $2)" >&2; exit 3; }; }
need nats-server nats-server
need curl curl
need python3 python3
if [ -z "$BIN" ]; then
  cargo build --release -q -p lattice -p lattice-httpserver -p lattice-kv
  BIN=target/release
fi
for b in lattice lattice-httpserver lattice-kv; do
  [ -x "$BIN/$b" ] || { echo "error: $BIN/$b is missing" >&2; exit 3; }
done

WORK="$(mktemp -d /tmp/lattice-chaos.XXXXXX)"
PIDS=()
cleanup() {
  for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill -9 "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

now() { date +%s.%N; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_port() { # port, seconds
  local end=$(( $(date +%s) + $2 ))
  until port_open "$1"; do
    [ "$(date +%s)" -lt "$end" ] || { echo "error: port $1 not open after $2 s" >&2; exit 1; }
    sleep 0.005
  done
}

# nats-server NAME PORT [extra args…]: starts it (JetStream, store in $WORK/NAME), prints the pid.
nats_start() {
  local name=$1 port=$2; shift 2
  nats-server -a 127.0.0.1 -p "$port" -js -sd "$WORK/$name" "$@" >"$WORK/$name.log" 2>&1 &
  echo $!
}

HTTP_PORT=""
ECHO_PORT=""
HOST_PID=""
# The demo (counter behind HTTP, KV in JetStream) plus the echo actor on a second HTTP
# port: plain actor calls that touch no JetStream.
write_manifest() {
  local root; root=$(pwd)
  cat >"$WORK/chaos.toml" <<EOF
[[actors]]
name = "counter"
wat = "$root/actors/counter.wat"
caps = ["wasmcloud:httpserver", "wasmcloud:keyvalue"]
instances = 16

[[actors]]
name = "echo"
wat = "$root/actors/echo.wat"
caps = ["wasmcloud:httpserver"]
instances = 4

[[providers]]
name = "httpserver"
path = "lattice-httpserver"
contract = "wasmcloud:httpserver"
vendor = "lattice"

[[providers]]
name = "kv"
path = "lattice-kv"
contract = "wasmcloud:keyvalue"
vendor = "lattice"

[[links]]
actor = "counter"
provider = "kv"

[[links]]
actor = "counter"
provider = "httpserver"
values = { address = "127.0.0.1:$HTTP_PORT" }

[[links]]
actor = "echo"
provider = "httpserver"
values = { address = "127.0.0.1:$ECHO_PORT" }
EOF
}
host_start() { # nats-urls, replicas
  HTTP_PORT=$(free_port)
  ECHO_PORT=$(free_port)
  write_manifest
  "$BIN/lattice" up --manifest "$WORK/chaos.toml" --nats-url "$1" --js-replicas "$2" \
    --lattice chaos --state-dir "$WORK/state" --rpc-timeout-ms 2000 2>"$WORK/host.log" &
  HOST_PID=$!
  PIDS+=("$HOST_PID")
  local end=$(( $(date +%s) + 120 ))
  until curl -s -m 2 -o /dev/null "http://127.0.0.1:$HTTP_PORT/" && curl -s -m 2 -o /dev/null "http://127.0.0.1:$ECHO_PORT/"; do
    [ "$(date +%s)" -lt "$end" ] || { echo "error: the demo did not answer; host log:" >&2; tail -20 "$WORK/host.log" >&2; exit 1; }
    kill -0 "$HOST_PID" 2>/dev/null || { echo "error: the host exited; log:" >&2; tail -20 "$WORK/host.log" >&2; exit 1; }
    sleep 0.2
  done
}
host_stop() { kill -TERM "$HOST_PID" 2>/dev/null || true; wait "$HOST_PID" 2>/dev/null || true; }

# The load: one request at a time per port; a line per request: start end http_code body.
LOAD_PIDS=()
load_start() { # [port log]: the counter into load.log, or the given port into the given log
  local port=${1:-$HTTP_PORT} log=${2:-$WORK/load.log}
  python3 - "$port" >"$log" <<'EOF' &
import sys, time, urllib.request, urllib.error
port = sys.argv[1]
while True:
    t0 = time.time()
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as r:
            code, body = r.status, r.read().decode(errors="replace").replace("\n", "")
    except urllib.error.HTTPError as e:
        code, body = e.code, e.headers.get("Retry-After", "-")
    except Exception as e:
        code, body = 0, type(e).__name__
    print(f"{t0:.6f} {time.time():.6f} {code} {body}", flush=True)
EOF
  LOAD_PIDS+=("$!")
  PIDS+=("$!")
}
load_stop() {
  for p in "${LOAD_PIDS[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  LOAD_PIDS=()
}

# analyse LOG T_KILL T_BACK: prints "first_success_after_back longest_failing_request n503 max_gap lost"
analyse() {
  python3 - "$@" <<'EOF'
import json, sys
log, t_kill, t_back = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
rows = []
for line in open(log):
    p = line.split(" ", 3)
    if len(p) == 4:
        rows.append((float(p[0]), float(p[1]), int(p[2]), p[3].strip()))
ok = [r for r in rows if r[2] == 200]
first = min((r[1] for r in ok if r[0] >= t_back), default=float("nan"))
failing = [r[1] - r[0] for r in rows if r[2] != 200 and r[0] >= t_kill]
n503 = sum(1 for r in rows if r[2] == 503 and r[0] >= t_kill)
# longest time without a success (ends of successful requests), from the kill on
ends = sorted(r[1] for r in ok)
gaps = [b - a for a, b in zip(ends, ends[1:]) if b >= t_kill]
values = []
for r in ok:
    try:
        values.append(json.loads(r[3])["counter"])
    except Exception:
        pass
backwards = sum(1 for a, b in zip(values, values[1:]) if b <= a)
print(f"{first - t_back:.3f} {max(failing, default=0):.3f} {n503} {max(gaps, default=0):.3f} {backwards} {len(ok)} {max(values, default=0)}")
EOF
}

# The final count, read back through the demo (one more increment).
final_count() { curl -s -m 5 "http://127.0.0.1:$HTTP_PORT/" | python3 -c 'import json,sys; print(json.load(sys.stdin)["counter"])'; }

RESULTS=()
record() { RESULTS+=("$1|$2"); }

restart_scenario() { # outage seconds
  local outage=$1 np pid t_kill t_back r
  np=$(free_port)
  pid=$(nats_start "single-$outage" "$np"); PIDS+=("$pid")
  wait_port "$np" 10
  host_start "nats://127.0.0.1:$np" 1
  load_start
  sleep 3
  t_kill=$(now); kill -9 "$pid"
  sleep "$outage"
  pid=$(nats_start "single-$outage" "$np"); PIDS+=("$pid")
  wait_port "$np" 10
  t_back=$(now)
  sleep 5
  load_stop
  read -r first longest n503 gap backwards nok maxv < <(analyse "$WORK/load.log" "$t_kill" "$t_back")
  final=$(final_count)
  host_stop; kill -9 "$pid" 2>/dev/null || true
  local verdict="ok"; [ "$backwards" = 0 ] && [ "$final" -gt "$maxv" ] || verdict="LOST"
  record "nats-server SIGKILL, back after ${outage} s: first success after it returns" \
    "${first} s (longest failing request ${longest} s, ${n503} × 503; counter ${verdict}: ${nok} acknowledged, final ${final})"
  rm -rf "$WORK/state" "$WORK/single-$outage"
}

# STREAM.INFO of the counter's bucket on node port $1: prints the leader's server name.
stream_leader() {
  python3 - "$1" "$2" <<'EOF'
import json, socket, sys
port, stream = int(sys.argv[1]), sys.argv[2]
s = socket.create_connection(("127.0.0.1", port), timeout=5)
f = s.makefile("rb")
f.readline()  # INFO
s.sendall(b'CONNECT {"verbose":false,"pedantic":false}\r\nSUB _INBOX.chaos 1\r\n')
s.sendall(f"PUB $JS.API.STREAM.INFO.{stream} _INBOX.chaos 0\r\n\r\n".encode())
while True:
    line = f.readline()
    if line.startswith(b"PING"):
        s.sendall(b"PONG\r\n")
    elif line.startswith(b"MSG"):
        n = int(line.split()[-1])
        info = json.loads(f.read(n + 2)[:n])
        leader = info.get("cluster", {}).get("leader", "")
        if not leader:
            print(f"chaos: no leader in STREAM.INFO: {json.dumps(info.get('cluster'))} replicas {info['config'].get('num_replicas')}", file=sys.stderr)
        # "-" when there is no leader yet, so the caller's `read` never shifts fields
        print(leader or "-", info.get("config", {}).get("num_replicas", 0))
        break
EOF
}

failover_scenario() { # kind: node | leader (only the second is measured when given)
  local kind=$1 ports=() cports=() mports=() pids=() urls i routes t_kill r
  for i in 0 1 2; do ports+=("$(free_port)"); cports+=("$(free_port)"); mports+=("$(free_port)"); done
  for i in 0 1 2; do
    routes=""
    for j in 0 1 2; do [ "$j" = "$i" ] || routes="$routes nats-route://127.0.0.1:${cports[$j]}"; done
    cat >"$WORK/n$i.conf" <<EOF
server_name: "n$i"
http: "127.0.0.1:${mports[$i]}"
cluster { name: "chaos", listen: "127.0.0.1:${cports[$i]}", routes: [$(echo "$routes" | sed 's/ /"/; s/ /", "/g; s/$/"/')] }
EOF
    pids+=("$(nats_start "n$i-$kind" "${ports[$i]}" -c "$WORK/n$i.conf")"); PIDS+=("${pids[$i]}")
  done
  for i in 0 1 2; do wait_port "${ports[$i]}" 20; done
  # JetStream ready: a meta leader
  local end=$(( $(date +%s) + 30 ))
  until curl -s "http://127.0.0.1:${mports[0]}/jsz" | grep -q '"leader": *"n'; do
    [ "$(date +%s)" -lt "$end" ] || { echo "error: no JetStream meta leader" >&2; exit 1; }
    sleep 0.2
  done
  urls="nats://127.0.0.1:${ports[0]},nats://127.0.0.1:${ports[1]},nats://127.0.0.1:${ports[2]}"
  host_start "$urls" 3
  local actor bucket leader stream_replicas victim=""
  actor=$(grep -o 'actor counter is M[A-Z0-9]*' "$WORK/host.log" | head -1 | awk '{print $4}')
  bucket="KV_kv_${actor}"
  leader=""
  for _ in $(seq 20); do
    read -r leader stream_replicas < <(stream_leader "${ports[0]}" "$bucket" || true)
    [ -n "$leader" ] && [ "$leader" != "-" ] && break
    sleep 0.3
  done
  echo "chaos: counter stream $bucket: ${stream_replicas:-?} replicas, leader ${leader:-unknown}" >&2
  if [ "$kind" = leader ]; then
    victim=${leader#n}
  else
    # the node the host's RPC connection uses, unless it leads the counter's stream
    for i in 0 1 2; do
      if curl -s "http://127.0.0.1:${mports[$i]}/connz" | grep -q 'lattice-host .* rpc' && [ "n$i" != "$leader" ]; then victim=$i; fi
    done
    if [ -z "$victim" ]; then for i in 0 1 2; do [ "n$i" != "$leader" ] && victim=$i; done; fi
  fi
  load_start
  load_start "$ECHO_PORT" "$WORK/echo.log"
  sleep 3
  t_kill=$(now); kill -9 "${pids[$victim]}"
  sleep 12
  load_stop
  read -r first longest n503 gap backwards nok maxv < <(analyse "$WORK/load.log" "$t_kill" "$t_kill")
  local egap en503 enok
  read -r _ _ en503 egap _ enok _ < <(analyse "$WORK/echo.log" "$t_kill" "$t_kill")
  final=$(final_count)
  host_stop
  for i in 0 1 2; do kill -9 "${pids[$i]}" 2>/dev/null || true; done
  local verdict="ok"; [ "$backwards" = 0 ] && [ "$final" -gt "$maxv" ] || verdict="LOST"
  if [ "$kind" = leader ]; then
    record "3-node cluster, the counter bucket's stream leader (n$victim) killed: longest gap without a success" \
      "${gap} s (JetStream leader election; counter ${verdict}: ${nok} acknowledged, final ${final})"
    record "same leader kill, plain actor calls (echo actor, no JetStream): longest gap without a success" \
      "${egap} s (${enok} calls answered, ${en503} × 503)"
  else
    record "3-node cluster, node n$victim (host's RPC node; the counter's stream leader is $leader) killed: longest gap without a success" \
      "${gap} s (${n503} × 503; counter ${verdict}: ${nok} acknowledged, final ${final})"
    record "same node kill, plain actor calls (echo actor, no JetStream): longest gap without a success" \
      "${egap} s (${enok} calls answered, ${en503} × 503)"
  fi
  rm -rf "$WORK/state" "$WORK"/n?-"$kind"
}

case "$SCENARIOS" in
  all) restart_scenario 1; restart_scenario 10; failover_scenario node; failover_scenario leader ;;
  restart) restart_scenario 1; restart_scenario 10 ;;
  failover) failover_scenario node; failover_scenario leader ;;
  leader) failover_scenario leader ;;
  *) echo "error: unknown scenario '$SCENARIOS' (all, restart, failover)" >&2; exit 2 ;;
esac

echo
echo "| event | Lattice (this run, $(nproc) CPUs, load $(cut -d' ' -f1 /proc/loadavg)) |"
echo "|---|---|"
for r in "${RESULTS[@]}"; do echo "| ${r%%|*} | ${r#*|} |"; done
