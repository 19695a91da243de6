#!/usr/bin/env bash
# Sets up roomscribe in ./.venv and runs the offline demo: the Speech service emulator, an embedded
# MQTT broker and the real daemon on a scripted two-speaker meeting with a pause.
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$python" -m venv .venv
fi
.venv/bin/python -m pip install -q -e '.[demo]'
exec .venv/bin/roomscribe demo "$@"
