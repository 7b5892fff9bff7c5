#!/usr/bin/env bash
# Run the whole test suite RUNS times in a row (default 10) while another process keeps every core busy,
# stopping at the first failure. A test that passes only on a quiet machine shows up here.
#   scripts/test_under_load.sh [RUNS] [pytest arguments...]
# Each run's output goes to .test-under-load/run-N.log; the summary line of each is printed as it ends.
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-10}"
shift || true
scripts/setup.sh --dev >/dev/null
export QT_QPA_PLATFORM=offscreen
mkdir -p .test-under-load

burners=()
stop_burners() { [ "${#burners[@]}" -eq 0 ] || kill "${burners[@]}" 2>/dev/null || true; }
trap stop_burners EXIT
for _ in $(seq "$(nproc)"); do
  python3 -c "while True: pass" &
  burners+=("$!")
done
echo "$(nproc) busy loops running; $runs runs of the suite"

for n in $(seq "$runs"); do
  started=$(date +%s)
  if .venv/bin/python -m pytest -q -p no:cacheprovider "$@" >".test-under-load/run-$n.log" 2>&1; then
    echo "run $n/$runs passed in $(($(date +%s) - started)) s: $(tail -n 1 ".test-under-load/run-$n.log")"
  else
    echo "run $n/$runs FAILED after $(($(date +%s) - started)) s; see .test-under-load/run-$n.log:" >&2
    grep -E "^(FAILED|ERROR)" ".test-under-load/run-$n.log" >&2 || tail -n 20 ".test-under-load/run-$n.log" >&2
    exit 1
  fi
done
echo "all $runs runs passed with every core busy"
