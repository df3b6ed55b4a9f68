#!/usr/bin/env bash
# Run every test of the workspace against real nats-server processes.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-nats.sh
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast "$@"
else
  cargo test --workspace --no-fail-fast "$@"
fi
