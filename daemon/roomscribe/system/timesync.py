"""Whether the system clock is known to be synchronised (NTP), for the state and the utterances' mark.

Two witnesses, asked in this order:

1. The kernel: adjtimex(2) with `modes = 0` only reads. It returns TIME_ERROR while the clock status
   has STA_UNSYNC set, which the kernel sets at boot and when the error estimate grows too large, and
   which ntpd, chrony and systemd-timesyncd clear once they discipline the clock. Under the shipped
   systemd units the call is refused (EPERM): `ProtectClock=yes` and `~@privileged` filter the whole
   `@clock` group, reads included. Then:
2. systemd-timesyncd's flag file, /run/systemd/timesync/synchronized, touched at its first
   synchronisation after boot (the file lives in /run, so every boot starts without it).

Neither says anything: the clock is not known to be synchronised. docs/systemd.md says what to do for
chrony under the shipped units. The function is looked up in the process's global namespace
(`CDLL(None)`), so a test's LD_PRELOAD shim can answer in the kernel's place.
"""

from __future__ import annotations

import ctypes
import functools
import logging
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

TIME_ERROR = 5  # adjtimex(2): the clock is not synchronised
TIMESYNCD_FLAG = Path("/run/systemd/timesync/synchronized")
TIMEX_BYTES = 512  # struct timex is 208 bytes on 64-bit Linux and less on 32-bit: room to spare, zeroed


@dataclass(frozen=True, slots=True)
class ClockSync:
    synchronized: bool
    reason: str  # which witness said so, for the log


@functools.cache
def _adjtimex():
    try:
        return ctypes.CDLL(None, use_errno=True).adjtimex
    except (OSError, AttributeError):
        return None


def kernel_synchronized() -> bool | None:
    """The kernel's word: True, False, or None when it cannot be asked (refused, or no adjtimex)."""
    adjtimex = _adjtimex()
    if adjtimex is None:
        return None
    timex = ctypes.create_string_buffer(TIMEX_BYTES)  # modes = 0: read, change nothing
    state = adjtimex(timex)
    if state < 0:
        log.debug("adjtimex refused (errno %d): the kernel's clock status cannot be read", ctypes.get_errno())
        return None
    return state != TIME_ERROR


def check_clock_sync(timesyncd_flag: Path = TIMESYNCD_FLAG) -> ClockSync:
    kernel = kernel_synchronized()
    if kernel is not None:
        return ClockSync(kernel, "the kernel reports the clock " + ("synchronised" if kernel else
                                                                    "unsynchronised (STA_UNSYNC: no time service has set it)"))
    try:
        flagged = timesyncd_flag.exists()
    except OSError:
        flagged = False
    if flagged:
        return ClockSync(True, f"systemd-timesyncd synchronised the clock ({timesyncd_flag} exists)")
    return ClockSync(False, f"unknown: the kernel's clock status cannot be read here and {timesyncd_flag} "
                            "does not exist (see docs/systemd.md, time synchronisation)")
