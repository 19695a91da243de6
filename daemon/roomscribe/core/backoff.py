"""Capped, jittered exponential backoff for reconnect loops.

A tiny class rather than a library: the retry libraries on PyPI (tenacity, backoff) are built around
decorators or retry loops that own the sleeping, and draw their jitter from the global `random`
module. Here the owner schedules its own timers and tests need a seedable random source, so all we
need is the delay sequence itself.

"Decorrelated jitter": each delay is drawn uniformly between `initial` and three times the previous
delay, then capped. Unlike "full jitter" it never drops below `initial`, so a flapping connection can
never retry in a hot loop, and clients that failed together spread out instead of retrying in step.
"""

from __future__ import annotations

import random

GROWTH = 3.0


class Backoff:
    def __init__(self, initial: float = 1.0, cap: float = 60.0, *, rng: random.Random | None = None):
        if initial <= 0:
            raise ValueError(f"initial must be positive (got {initial})")
        if cap < initial:
            raise ValueError(f"cap ({cap}) must not be below initial ({initial})")
        self.initial = initial
        self.cap = cap
        self._rng = rng or random.Random()
        self._previous = initial
        self.attempts = 0

    def next_delay(self) -> float:
        """Seconds to wait before the next attempt; each call counts one failed attempt."""
        delay = min(self.cap, self._rng.uniform(self.initial, self._previous * GROWTH))
        self._previous = delay
        self.attempts += 1
        return delay

    def reset(self) -> None:
        """After a success: the next failure waits about `initial` again."""
        self._previous = self.initial
        self.attempts = 0
