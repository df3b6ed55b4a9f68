#!/usr/bin/env bash
# Instruction-count ratio (full protocol work / crypto floor) per payload size, with
# callgrind: repeatable whatever else the machine is doing. See docs/BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v valgrind >/dev/null || { echo "error: valgrind not installed (apt-get install -y valgrind)" >&2; exit 1; }
cargo build -q --release -p lattice-proto --example ratio
bin=target/release/examples/ratio
n=${ITERATIONS:-200}
count() { # mode size -> instructions for n iterations minus a 0-iteration run (start-up)
  local with without
  with=$(valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bin" "$1" "$2" "$n" 2>&1 | sed -n 's/.*Collected : \([0-9]*\).*/\1/p')
  without=$(valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bin" "$1" "$2" 0 2>&1 | sed -n 's/.*Collected : \([0-9]*\).*/\1/p')
  echo $(( (with - without) / n ))
}
printf '%-8s %14s %14s %7s\n' payload full_instr floor_instr ratio
for size in 0 1024 65536 1048576; do
  full=$(count full "$size"); floor=$(count floor "$size")
  printf '%-8s %14s %14s %7s\n' "$size" "$full" "$floor" "$(python3 -c "print(f'{$full/$floor:.2f}')")"
done
