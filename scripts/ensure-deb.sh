#!/usr/bin/env bash
# Usage: ensure-deb.sh COMMAND PACKAGE
# Make sure COMMAND is on PATH, installing the Debian PACKAGE with apt when it is missing.
set -euo pipefail
cmd="$1" pkg="$2"
if command -v "$cmd" >/dev/null 2>&1; then
  exit 0
fi
echo "$cmd not found: installing the Debian package (apt-get install -y $pkg)" >&2
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq "$pkg"
command -v "$cmd" >/dev/null 2>&1 || { echo "error: $cmd still missing after apt-get install -y $pkg" >&2; exit 1; }
