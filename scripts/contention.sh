#!/usr/bin/env bash
# Runs the timing-sensitive tests (pytest marker `contention`: the privacy proofs, the start of a meeting
# on a slow microphone, the command storm, the demo) pinned to one CPU core with a CPU-bound process
# beside them, as on a busy room device or CI machine. Extra arguments go to pytest.
# Needs ./.venv and the Debian packages: run scripts/test.sh once first (it calls this script too).
set -euo pipefail
cd "$(dirname "$0")/.."
core=${CONTENTION_CORE:-0}
taskset -c "$core" .venv/bin/python -c 'while True: pass' &
hog=$!
trap 'kill "$hog" 2>/dev/null || true' EXIT
echo "contention run: the timing-sensitive tests on CPU $core, beside a busy process (pid $hog)"
taskset -c "$core" .venv/bin/python -m pytest -m contention "$@"
