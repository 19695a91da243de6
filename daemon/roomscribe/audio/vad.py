"""The speech detector: Home Assistant's micro VAD (`pymicro-vad`), one 10 ms chunk at a time.

pymicro-vad is a small C++ detector with binary wheels (x86_64, aarch64, armv7) that takes exactly
10 ms of 16 kHz 16-bit mono PCM and returns a speech probability, keeping its own state from chunk to
chunk. Why this one and not Silero or WebRTC: docs/vad.md.
"""

from __future__ import annotations

from roomscribe.audio.format import CHUNK_BYTES


class MicroVadDetector:
    """A `roomscribe.core.voice_filter.SpeechDetector` backed by pymicro-vad. Not thread-safe: one owner."""

    def __init__(self) -> None:
        from pymicro_vad import MicroVad  # imported here: the package is needed only when the VAD is on

        self._vad = MicroVad()

    def speech_probability(self, pcm: bytes) -> float:
        if len(pcm) != CHUNK_BYTES:
            raise ValueError(f"the detector takes {CHUNK_BYTES}-byte chunks (10 ms), got {len(pcm)} bytes")
        return self._vad.process_10ms(pcm)

    def reset(self) -> None:
        self._vad.reset()


def make_speech_detector() -> MicroVadDetector:
    """The factory the audio path uses; tests and benchmarks can pass their own detector instead."""
    return MicroVadDetector()
