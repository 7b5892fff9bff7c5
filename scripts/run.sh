#!/usr/bin/env bash
# Set up (first run only) and launch the app. With no arguments it opens the offline demo (the built-in
# Voice Live emulator); pass flags such as --endpoint/--model/--byom to talk to Azure instead.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
[ "$#" -eq 0 ] && set -- --demo
if [ -z "${DISPLAY:-}" ] && [ -z "${WAYLAND_DISPLAY:-}" ]; then
  echo "No display found: running on a virtual X display (Xvfb). Use scripts/screenshot.py to see it." >&2
  exec xvfb-run -a .venv/bin/voicelive-desktop "$@"
fi
exec .venv/bin/voicelive-desktop "$@"
