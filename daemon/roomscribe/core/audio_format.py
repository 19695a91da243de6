"""The one audio format roomscribe moves around: 16 kHz, 16-bit signed little-endian, mono PCM."""

from __future__ import annotations

from dataclasses import dataclass

SAMPLE_RATE = 16_000
SAMPLE_WIDTH = 2  # bytes
BITS = SAMPLE_WIDTH * 8
CHANNELS = 1
BYTES_PER_SECOND = SAMPLE_RATE * SAMPLE_WIDTH * CHANNELS
# 10 ms chunks: the gate acts per chunk, so this bounds how late a pause or resume takes effect, and
# a resume waits for the next chunk (half a chunk on average; docs/BENCHMARKS.md). Chunks go straight
# from the capture thread to the push stream, so the extra wake-ups cost little.
CHUNK_MS = 10
CHUNK_BYTES = BYTES_PER_SECOND * CHUNK_MS // 1000

TICKS_PER_SECOND = 10_000_000  # the Speech service counts in 100 ns ticks


def bytes_to_seconds(n: int) -> float:
    return n / BYTES_PER_SECOND


def ticks_to_bytes(ticks: int) -> int:
    return int(round(ticks * SAMPLE_RATE / TICKS_PER_SECOND)) * SAMPLE_WIDTH


def bytes_to_ticks(n: int) -> int:
    return n // SAMPLE_WIDTH * TICKS_PER_SECOND // SAMPLE_RATE


@dataclass(frozen=True, slots=True)
class AudioChunk:
    """A piece of captured audio and the UTC wall-clock time (epoch seconds) of its first sample.

    `captured_mono` is the same instant on the monotonic clock (core/clock.py), which the timeline maps
    to wall-clock times when they are published, so they follow a step of the wall clock; None when
    the source does not know it (then `captured_at` is taken as it is).
    """

    pcm: bytes
    captured_at: float
    captured_mono: float | None = None

    @property
    def duration(self) -> float:
        return bytes_to_seconds(len(self.pcm))
