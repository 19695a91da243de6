#!/usr/bin/env bash
# Sets up everything the tests need on a Debian machine, then runs the whole suite: the timing-sensitive
# tests under CPU contention (scripts/contention.sh) after the others, the long ones beside them.
# System packages: Mosquitto (the tests start their own broker), PortAudio + PulseAudio (real
# capture through a null sink), sox, espeak-ng (real speech for the VAD tests), systemd-analyze, gcc
# (the wall-clock shim of the clock-step tests, tests/support/clock_shim.c), chromium (the live page's tests
# drive it through Playwright).
# Python packages go into ./.venv.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(mosquitto mosquitto-clients portaudio19-dev pulseaudio pulseaudio-utils libasound2-plugins
          alsa-utils sox espeak-ng systemd openssl python3-venv util-linux gcc libc6-dev chromium)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
    echo "installing Debian packages: ${missing[*]}"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

python=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$python" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
.venv/bin/python -m pip install -q -e '.[test]'

whole_suite=yes  # no particular tests asked for
for arg in "$@"; do
    case "$arg" in -*) ;; *) whole_suite=no ;; esac
done

# The long tests (5-minute outages of the speech service, in real time) mostly wait: they start first, in
# a pytest of their own, and run beside everything else; their report comes at the end. They keep off the
# core of the contention run (below) when the machine has another.
# The timing-sensitive tests run after the rest, pinned to one busy core (scripts/contention.sh).
selection=()
if [ "$whole_suite" = yes ]; then
    long_report=$(mktemp)
    other_cores=$(.venv/bin/python -c 'import os, sys; print(",".join(str(c) for c in sorted(os.sched_getaffinity(0) - {int(sys.argv[1])})))' "${CONTENTION_CORE:-0}")
    pin=(); [ -z "$other_cores" ] || pin=(taskset -c "$other_cores")
    setsid "${pin[@]}" .venv/bin/python -m pytest -m long -p no:cacheprovider "$@" >"$long_report" 2>&1 &
    long=$!
    trap 'kill -- -"$long" 2>/dev/null || true; rm -f "$long_report"' EXIT  # its daemons and emulators too
    selection=(-m "not long and not contention")
fi

# Most tests wait on real time (audio played at its pace, brokers, the speech emulator), so four workers
# share the two cores of a CI machine; a file stays on one worker (its module fixtures are shared).
.venv/bin/python -m pytest -n "${PYTEST_WORKERS:-4}" --dist loadfile "${selection[@]}" "$@"
[ "$whole_suite" = yes ] || exit 0

# Then the timing-sensitive tests, pinned to one busy core: a proof that depends on how fast this machine
# is, is not a proof. (Asked for by name, they run in the line above, on a machine as it is.)
bash scripts/contention.sh "$@"

echo "the long tests (started first, beside the rest):"
status=0
wait "$long" || status=$?
cat "$long_report"
exit "$status"
