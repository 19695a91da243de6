"""Clocks for tests (core/clock.py `Clock`): a wall clock the test steps, as NTP would."""

from __future__ import annotations

import time


class ManualClock:
    """Both clocks by hand: `advance` moves time on, `step` moves only the wall clock."""

    def __init__(self, wall: float = 1_700_000_000.0, monotonic: float = 1000.0):
        self._wall, self._monotonic = wall, monotonic

    def wall(self) -> float:
        return self._wall

    def monotonic(self) -> float:
        return self._monotonic

    def advance(self, seconds: float) -> None:
        self._wall += seconds
        self._monotonic += seconds

    def step(self, seconds: float) -> None:
        self._wall += seconds


class SteppedClock:
    """The real clocks, with a wall clock the test steps: for code that also sleeps and waits for real."""

    def __init__(self, offset: float = 0.0):
        self.offset = offset

    def wall(self) -> float:
        return time.time() + self.offset

    def monotonic(self) -> float:
        return time.monotonic()

    def step(self, seconds: float) -> None:
        self.offset += seconds
