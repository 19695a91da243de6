#!/usr/bin/env bash
# Runs the README's demo N times in a row and counts the passes: bench/repeat_demo.sh N [embedded|mosquitto] [contention]
# With "contention" every run is pinned to one CPU core beside a CPU-bound process. Needs ./.venv
# (bash scripts/demo.sh or scripts/test.sh sets it up). Prints one line per run and a summary.
set -uo pipefail
cd "$(dirname "$0")/.."
runs=${1:-20}; broker=${2:-embedded}; mode=${3:-}
pin=()
if [ "$mode" = contention ]; then
    taskset -c 0 .venv/bin/python -c 'while True: pass' &
    hog=$!
    trap 'kill "$hog" 2>/dev/null || true' EXIT
    pin=(taskset -c 0)
fi
passed=0
for i in $(seq 1 "$runs"); do
    log=$(mktemp)
    if "${pin[@]}" .venv/bin/roomscribe demo --broker "$broker" >"$log" 2>&1; then
        passed=$((passed + 1)); verdict=pass
    else
        verdict="FAIL (log kept in $log)"
    fi
    echo "run $i: $verdict; $(grep -E 'secret sentence reached|utterances published' "$log" | tr -s ' ' | tr '\n' ';')"
    [ "$verdict" = pass ] && rm -f "$log"
done
echo "demo with the $broker broker${mode:+ under $mode}: $passed of $runs passed"
[ "$passed" -eq "$runs" ]
