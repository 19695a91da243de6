"""Two clocks and what roomscribe makes of them: the wall clock labels, the monotonic clock measures.

The wall clock (CLOCK_REALTIME, `time.time`) can step: a Raspberry Pi has no real-time clock, boots
with an old time, and NTP steps it by days once it reaches a server. The monotonic clock
(`time.monotonic`) never steps, and the kernel slews both alike, so `wall - monotonic` (the offset)
changes only when the wall clock steps. Hence:

* durations (a meeting's length, its paused seconds) are differences of the monotonic clock;
* capture times are kept on the monotonic clock and turned into wall-clock times with the offset in
  force when they are published (core/timeline.py), so audio captured before a step and published
  after it gets the times of the clock after it;
* the owner's wall clock (`WallClock`) is the monotonic clock plus the offset it last accepted. It
  reads the offset once a second (`check`): a change of more than STEP_THRESHOLD_S is a step, which
  the owner announces before anything it stamps with the new offset, so every record the outputs
  get before that announcement is on the old clock and every one after it on the new one.

`Clock` is the seam: tests hand in a clock they step by hand.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Protocol

# A change of the offset beyond this is a step: published and logged. Smaller ones (a read that was
# preempted moves it by microseconds) are taken over silently. ntpd steps offsets over 0.128 s,
# systemd-timesyncd over 0.4 s, chrony (Debian's `makestep 1 3`) over 1 s.
STEP_THRESHOLD_S = 0.1
# Reading wall and monotonic clock is retried while the two monotonic reads around the wall read lie
# further apart than this (the thread was preempted in between), so a read offset is good to ~1 ms.
TIGHT_READ_S = 0.001


class Clock(Protocol):
    def wall(self) -> float: ...  # UTC epoch seconds; may step

    def monotonic(self) -> float: ...  # seconds since an arbitrary moment; never steps


class SystemClock:
    wall = staticmethod(time.time)
    monotonic = staticmethod(time.monotonic)


SYSTEM_CLOCK = SystemClock()


def read_offset(clock: Clock = SYSTEM_CLOCK) -> float:
    """`wall - monotonic` now, from the tightest of up to three reads."""
    best_width, best = float("inf"), 0.0
    for _ in range(3):
        before = clock.monotonic()
        wall = clock.wall()
        after = clock.monotonic()
        if after - before < best_width:
            best_width, best = after - before, wall - (before + after) / 2
        if best_width <= TIGHT_READ_S:
            break
    return best


@dataclass(frozen=True, slots=True)
class ClockStep:
    step_s: float  # positive: the wall clock jumped forward
    at: float  # the wall clock just after the step (epoch seconds, the new clock)


class WallClock:
    """The owner's wall clock: the monotonic clock plus the offset accepted at the last `check`."""

    def __init__(self, clock: Clock = SYSTEM_CLOCK, *, threshold_s: float = STEP_THRESHOLD_S):
        self._clock = clock
        self._threshold = threshold_s
        self.offset = read_offset(clock)

    def now(self) -> float:
        return self._clock.monotonic() + self.offset

    def monotonic(self) -> float:
        return self._clock.monotonic()

    def check(self) -> ClockStep | None:
        """Take over the wall clock's current offset; the step, if it changed by more than the threshold."""
        offset = read_offset(self._clock)
        change, self.offset = offset - self.offset, offset
        if abs(change) <= self._threshold:
            return None
        return ClockStep(step_s=change, at=self.now())


class MeetingDurations:
    """A meeting's length and paused time on the monotonic clock: right whatever the wall clock does."""

    def __init__(self, monotonic: Callable[[], float]):
        self._monotonic = monotonic
        self._began: float | None = None
        self._paused_since: float | None = None
        self._paused = 0.0

    @property
    def running(self) -> bool:
        return self._began is not None

    def started(self) -> None:
        self._began, self._paused_since, self._paused = self._monotonic(), None, 0.0

    def paused(self, is_paused: bool) -> None:
        """The state now: paused or not (called on every state change; repeats change nothing)."""
        if self._began is None:
            return
        if is_paused and self._paused_since is None:
            self._paused_since = self._monotonic()
        elif not is_paused and self._paused_since is not None:
            self._paused += self._monotonic() - self._paused_since
            self._paused_since = None

    def ended(self) -> tuple[float, float] | None:
        """(length, paused seconds) of the meeting that ends now; None without one."""
        if self._began is None:
            return None
        self.paused(False)
        length, self._began = self._monotonic() - self._began, None
        return length, self._paused
