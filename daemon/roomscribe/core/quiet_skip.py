"""Rest the speech detector while the room is quiet: the detector is nearly all of the voice stage's CPU.

pymicro-vad costs about 75 µs per 10 ms chunk on x86 here, about a quarter of the daemon's whole CPU
(docs/vad.md). A room is mostly quiet between phrases. So `QuietSkip` answers for the detector in two
cases: the detector has heard nothing like speech for `settle_chunks` (500 ms), and the chunk's level
stays within `wake_db` of the room's noise floor. Such a chunk counts as silence (probability 0) and is
kept, at most `catch_up_chunks` of them (800 ms), in memory only.

The first louder chunk wakes the detector. It first hears the kept chunks, whose answers are dropped, and
then judges the loud chunk with its short-term state rebuilt from the last 800 ms. pymicro-vad remembers
longer than that, so its answers are not exactly those it would give having listened throughout; on
eight synthesized 20-minute room days (444 utterances at 5-30 dB SNR) it kept 99.87 % of the speech
chunks and clipped 10 starts by more than 100 ms, against 99.88 % and 11 listening throughout, while
hearing 35 % of the chunks (docs/vad.md). The pre-roll (the voice stage's ring, not this) covers the
chunks the detector heard late. A wake costs one burst of up to 80 detector calls (about 6 ms here).

The floor follows the quietest chunks: it drops to any quieter chunk at once and rises by `rise_db` per
chunk (5 dB a second) otherwise, so it finds a louder room within seconds. Levels are the chunk's RMS in
dB (16-bit scale); pure arithmetic on the chunk, no I/O.
"""

from __future__ import annotations

import math
import operator
import sys
from array import array
from collections import deque
from dataclasses import dataclass

from roomscribe.core.voice_filter import SpeechDetector

_LEVEL_STEP = 4  # level_db reads every fourth sample


@dataclass(slots=True)
class QuietSkipStats:
    chunks: int = 0  # chunks judged
    detector_calls: int = 0  # chunks the detector heard, the caught-up ones included

    @property
    def detector_share(self) -> float:
        return self.detector_calls / self.chunks if self.chunks else 1.0


class QuietSkip:
    """A SpeechDetector that asks `detector` only when the chunk is not quiet (see the module's docstring)."""

    def __init__(self, detector: SpeechDetector, *, calm_below: float = 0.25, wake_db: float = 10.0,
                 rise_db: float = 0.05, settle_chunks: int = 50, catch_up_chunks: int = 80):
        self.detector = detector
        self._calm_below = calm_below  # a probability under this is nothing like speech
        self._wake_db = wake_db
        self._rise_db = rise_db
        self._settle_chunks = settle_chunks
        self._skipped: deque[bytes] = deque(maxlen=catch_up_chunks)
        self._floor_db: float | None = None
        self._calm = 0  # chunks in a row the detector called nothing like speech
        self.stats = QuietSkipStats()

    def speech_probability(self, pcm: bytes) -> float:
        self.stats.chunks += 1
        level = level_db(pcm)
        if self._floor_db is None or level < self._floor_db:
            self._floor_db = level
        else:
            self._floor_db += self._rise_db
        if self._calm >= self._settle_chunks and level < self._floor_db + self._wake_db:
            self._skipped.append(pcm)
            return 0.0
        for missed in self._skipped:
            self.detector.speech_probability(missed)
        self.stats.detector_calls += len(self._skipped) + 1
        self._skipped.clear()
        probability = self.detector.speech_probability(pcm)
        self._calm = self._calm + 1 if probability < self._calm_below else 0
        return probability

    def reset(self) -> None:
        """The gate closed: the detector forgets, and so does this (the kept chunks, the floor)."""
        self.detector.reset()
        self._skipped.clear()
        self._floor_db = None
        self._calm = 0


def level_db(pcm: bytes) -> float:
    """RMS of 16-bit little-endian PCM in dB on the 16-bit scale (0 for digital silence, about 90 at full
    scale), from every fourth sample: an estimate good to a dB or two, at a quarter of the cost."""
    samples = array("h", pcm[:len(pcm) - len(pcm) % 2])
    if sys.byteorder == "big":
        samples.byteswap()
    samples = samples[::_LEVEL_STEP]
    if not samples:
        return 0.0
    return 10.0 * math.log10(sum(map(operator.mul, samples, samples)) / len(samples) + 1.0)
