#!/usr/bin/env bash
# Run the whole test suite RUNS times (default 10) while another process keeps every core busy, stopping after
# the first failure (with TEST_JOBS=2, once its partner run has ended too). A test that passes only on a quiet
# machine shows up here.
#   scripts/test_under_load.sh [RUNS] [pytest arguments...]
# TEST_JOBS=2 runs two suites at a time (each in its own runtime folder, so their single-instance sockets never
# meet): each is then also the other's load, and RUNS take half as long.
# Each run's output goes to .test-under-load/run-N.log; the summary line of each is printed as it ends.
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-10}"
shift || true
jobs="${TEST_JOBS:-1}"
[[ $runs =~ ^[1-9][0-9]*$ ]] || { echo "RUNS must be a whole number of runs, not '$runs'" >&2; exit 2; }
[[ $jobs =~ ^[1-9][0-9]*$ ]] || { echo "TEST_JOBS must be 1 or more, not '$jobs'" >&2; exit 2; }
scripts/setup.sh --dev >/dev/null
export QT_QPA_PLATFORM=offscreen
mkdir -p .test-under-load

burners=()
runtimes=$(mktemp -d)  # each run's runtime folder goes in here; removed at the end, interrupted or not
stop_burners() {
  [ "${#burners[@]}" -eq 0 ] || kill "${burners[@]}" 2>/dev/null || true
  rm -rf "$runtimes"
}
trap stop_burners EXIT
for _ in $(seq "$(nproc)"); do
  python3 -c "while True: pass" &
  burners+=("$!")
done
echo "$(nproc) busy loops running; $runs runs of the suite, $jobs at a time"

# A run that crashed leaves what it started running (its private PulseAudio, recorders, X servers, apps): find
# them by the mark every process of the run inherits, and stop them, so that they do not load the next runs.
leftovers() {
  local environ pid found=()
  for environ in /proc/[0-9]*/environ; do
    pid=${environ#/proc/}
    pid=${pid%/environ}
    if { tr '\0' '\n' <"$environ"; } 2>/dev/null | grep -qx "VOICELIVE_LOAD_RUN=$1"; then  # gone, or not ours
      found+=("$pid")
    fi
  done
  if [ "${#found[@]}" -gt 0 ]; then
    echo "run $1 left ${#found[@]} processes running; stopping them" >&2
    kill -9 "${found[@]}" 2>/dev/null || true
  fi
}

run_one() {
  local n="$1" runtime
  shift
  runtime=$(mktemp -d -p "$runtimes")
  chmod 700 "$runtime"
  local started status=0
  started=$(date +%s)
  VOICELIVE_LOAD_RUN="$n" XDG_RUNTIME_DIR="$runtime" .venv/bin/python -m pytest -q -p no:cacheprovider "$@" \
    >".test-under-load/run-$n.log" 2>&1 || status=$?
  leftovers "$n"
  rm -rf "$runtime"
  if [ "$status" -eq 0 ]; then
    echo "run $n/$runs passed in $(($(date +%s) - started)) s: $(tail -n 1 ".test-under-load/run-$n.log")"
  else
    echo "run $n/$runs FAILED after $(($(date +%s) - started)) s; see .test-under-load/run-$n.log:" >&2
    grep -E "^(FAILED|ERROR)" ".test-under-load/run-$n.log" >&2 || tail -n 20 ".test-under-load/run-$n.log" >&2
  fi
  return "$status"
}

n=1
while [ "$n" -le "$runs" ]; do
  pids=()
  for ((k = n; k < n + jobs && k <= runs; k++)); do
    run_one "$k" "$@" &
    pids+=("$!")
  done
  failed=0
  for pid in "${pids[@]}"; do
    wait "$pid" || failed=1
  done
  [ "$failed" -eq 0 ] || exit 1
  n=$((n + jobs))
done
echo "all $runs runs passed with every core busy"
