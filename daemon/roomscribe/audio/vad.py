"""The speech detector: Home Assistant's micro VAD (`pymicro-vad`), one 10 ms chunk at a time.

pymicro-vad is a small C++ detector with binary wheels that takes exactly 10 ms of 16 kHz 16-bit mono PCM
and returns a speech probability, keeping its own state from chunk to chunk. Why this one and not Silero
or WebRTC: docs/vad.md.

A fresh (or reset) pymicro-vad answers -1 ("no decision yet") for its first 76 chunks while it fills its
feature window. Left like that, speech right after a resume would go unheard for 760 ms, longer than the
pre-roll. So the adapter primes it with that much digital silence whenever it starts or is reset: the
detector is ready from the first live chunk, and holds nothing of the audio before the reset.
"""

from __future__ import annotations

from roomscribe.core.audio_format import CHUNK_BYTES
from roomscribe.core.quiet_skip import QuietSkip

_SILENCE = bytes(CHUNK_BYTES)
_MAX_PRIMING_CHUNKS = 500  # 5 s: far above the 76 chunks pymicro-vad 2.x needs


class MicroVadDetector:
    """A `roomscribe.core.voice_filter.SpeechDetector` backed by pymicro-vad. Not thread-safe: one owner."""

    def __init__(self) -> None:
        from pymicro_vad import MicroVad  # imported here: the package is needed only when the VAD is on

        self._vad = MicroVad()
        self._prime()

    def speech_probability(self, pcm: bytes) -> float:
        if len(pcm) != CHUNK_BYTES:
            raise ValueError(f"the detector takes {CHUNK_BYTES}-byte chunks (10 ms), got {len(pcm)} bytes")
        return max(self._vad.process_10ms(pcm), 0.0)

    def reset(self) -> None:
        self._vad.reset()
        self._prime()

    def _prime(self) -> None:
        """Feed silence until the detector gives probabilities."""
        for _ in range(_MAX_PRIMING_CHUNKS):
            if self._vad.process_10ms(_SILENCE) >= 0:
                return
        raise RuntimeError(f"pymicro-vad gave no probability after {_MAX_PRIMING_CHUNKS} chunks of silence")


def make_speech_detector(threshold: float = 0.5) -> QuietSkip:
    """The detector the daemon uses: pymicro-vad, resting while the room is quiet (core/quiet_skip.py).
    `threshold` is the voice stage's: a probability under half of it counts as nothing like speech."""
    return QuietSkip(MicroVadDetector(), calm_below=threshold / 2)
