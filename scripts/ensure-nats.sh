#!/usr/bin/env bash
# Make sure a nats-server binary is available (Debian package `nats-server`).
# Run by the demo and test scripts; installs with apt when missing.
set -euo pipefail
if [ -n "${LATTICE_NATS_SERVER:-}" ]; then
  exit 0
fi
exec bash "$(dirname "$0")/ensure-deb.sh" nats-server nats-server
