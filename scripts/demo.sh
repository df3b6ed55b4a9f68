#!/usr/bin/env bash
# The demo: make a cluster key, sign an invocation with it, and inspect it as a receiver
# would — then show that a different key's signature is refused.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build -q -p lattice -p lattice-proto --examples --bins
L=target/debug/lattice
keys=$($L keys gen cluster --json)
seed=$(echo "$keys" | sed 's/.*"seed":"\([^"]*\)".*/\1/')
pk=$(echo "$keys" | sed 's/.*"public_key":"\([^"]*\)".*/\1/')
echo "== cluster issuer: $pk" >&2
echo "== a signed invocation, inspected with --issuer $pk:" >&2
target/debug/examples/sign_invocation "$seed" "hello lattice" | $L inspect --issuer "$pk"
other=$($L keys gen cluster --json | sed 's/.*"public_key":"\([^"]*\)".*/\1/')
echo "== the same bytes, with only another issuer trusted (expect an error, exit 1):" >&2
if target/debug/examples/sign_invocation "$seed" "hello lattice" | $L inspect --issuer "$other" >/dev/null; then
  echo "unexpected: accepted" >&2; exit 1
fi
