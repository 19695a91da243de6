"""Decode a whole buffer of tone speech into its phrases: the recognizer run offline."""

from __future__ import annotations

import numpy as np

from roomscribe.emulator.phrases import Phrase
from roomscribe.emulator.recognizer import ToneRecognizer


def decode(
    pcm: bytes | np.ndarray, *, sample_rate: int = 16000, segmentation_silence_ms: int = 500
) -> list[Phrase]:
    """Every phrase in a complete buffer (int16 samples or 16-bit little-endian bytes)."""
    if isinstance(pcm, np.ndarray):
        if pcm.dtype != np.int16 or pcm.ndim != 1:
            raise ValueError(f"decode needs mono int16 samples, got {pcm.dtype} with shape {pcm.shape}")
        pcm = pcm.astype("<i2", copy=False).tobytes()
    recognizer = ToneRecognizer(segmentation_silence_ms=segmentation_silence_ms, sample_rate=sample_rate)
    events = recognizer.feed(pcm) + recognizer.flush()
    return [event for event in events if isinstance(event, Phrase)]
