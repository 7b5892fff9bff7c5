#!/usr/bin/env bash
# Set up everything and run the whole suite: lint, types, and every test (audio on a private PulseAudio).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --dev
export QT_QPA_PLATFORM=offscreen

echo "== ruff"
.venv/bin/ruff check voicelive_desktop tests $( [ -d benchmarks ] && echo benchmarks)
.venv/bin/ruff format --check voicelive_desktop tests $( [ -d benchmarks ] && echo benchmarks)
echo "== mypy"
.venv/bin/mypy voicelive_desktop $( [ -d benchmarks ] && echo benchmarks)
echo "== pytest"
set +e
.venv/bin/python -m pytest "$@"
status=$?
set -e
if [ "$status" -eq 5 ]; then
  echo "pytest collected no tests: that is a failure" >&2
  exit 1
fi
exit "$status"
