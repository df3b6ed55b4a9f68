#!/usr/bin/env bash
# Make sure a nats-server binary is available (Debian package `nats-server`).
# Sourced or run by the demo and test scripts; installs with apt when missing.
set -euo pipefail
if command -v nats-server >/dev/null 2>&1 || [ -n "${LATTICE_NATS_SERVER:-}" ]; then
  exit 0
fi
echo "nats-server not found: installing the Debian package (apt-get install -y nats-server)" >&2
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq nats-server
command -v nats-server >/dev/null 2>&1 || { echo "error: nats-server still missing after apt-get install" >&2; exit 1; }
