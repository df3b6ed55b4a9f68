#!/usr/bin/env bash
# Usage: ensure-deb.sh COMMAND PACKAGE [PACKAGE…]
# Make sure COMMAND is on PATH, installing the Debian PACKAGE(s) with apt when it is missing.
# Several packages go in one apt-get call, so that packages that must match (chromium and
# chromium-driver) come from the same package list.
set -euo pipefail
cmd="$1"
shift
pkgs=("$@")
if command -v "$cmd" >/dev/null 2>&1; then
  exit 0
fi
echo "$cmd not found: installing the Debian package(s) (apt-get install -y ${pkgs[*]})" >&2
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq "${pkgs[@]}"
command -v "$cmd" >/dev/null 2>&1 || { echo "error: $cmd still missing after apt-get install -y ${pkgs[*]}" >&2; exit 1; }
