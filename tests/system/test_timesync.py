"""Whether the clock is known to be synchronised (system/timesync.py), asked of a real process whose kernel
answer the clock shim sets: synchronised, not, or refused as under the shipped unit's system call filter."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from roomscribe.system.timesync import check_clock_sync, kernel_synchronized
from tests.support.clock_shim import REFUSED, ClockShim, needs_gcc

PROBE = """
import json, sys
from pathlib import Path
from roomscribe.system.timesync import check_clock_sync, kernel_synchronized
sync = check_clock_sync(Path(sys.argv[1]))
print(json.dumps([kernel_synchronized(), sync.synchronized, sync.reason]))
"""


def probe(shim: ClockShim, flag) -> list:
    out = subprocess.run([sys.executable, "-c", PROBE, str(flag)], env={**os.environ, **shim.env()},
                         capture_output=True, text=True, timeout=30, check=True)
    return json.loads(out.stdout)


@needs_gcc
def test_the_kernel_is_asked_first_and_timesyncd_s_flag_when_it_cannot_be(tmp_path):
    shim = ClockShim.build(tmp_path)
    flag = tmp_path / "synchronized"
    try:
        shim.set(synchronized=True)
        assert probe(shim, flag)[:2] == [True, True]
        shim.set(synchronized=False)
        kernel, synchronized, reason = probe(shim, flag)
        assert (kernel, synchronized) == (False, False) and "unsynchronised" in reason
        flag.touch()  # the kernel's word wins over the flag while it can be read
        assert probe(shim, flag)[:2] == [False, False]
        shim.set(synchronized=REFUSED)  # adjtimex fails with EPERM, as under ProtectClock=yes
        kernel, synchronized, reason = probe(shim, flag)
        assert (kernel, synchronized) == (None, True) and "systemd-timesyncd" in reason
        flag.unlink()
        kernel, synchronized, reason = probe(shim, flag)
        assert (kernel, synchronized) == (None, False) and reason.startswith("unknown")
    finally:
        shim.close()


def test_this_machine_s_answer_is_the_kernel_s(tmp_path):
    """Without the shim: what the build machine's kernel says (here: unsynchronised), never a guess."""
    kernel, sync = kernel_synchronized(), check_clock_sync(tmp_path / "no-flag")
    assert sync.synchronized is (kernel is True)
    assert kernel is not None or sync.reason.startswith("unknown")
