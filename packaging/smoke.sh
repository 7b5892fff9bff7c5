#!/usr/bin/env bash
# Smoke-test the built bundle (dist/voicelive-desktop/) as a user would: see packaging/README.md.
# The harness (Xvfb, PulseAudio, xdotool, espeak-ng, .venv) comes from scripts/setup.sh; the bundle runs alone.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec .venv/bin/python packaging/smoke.py
