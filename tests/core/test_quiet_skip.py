"""QuietSkip without a real detector: which chunks the detector hears, in which order, and what is answered."""

from __future__ import annotations

import math
import struct

import pytest

from roomscribe.core.audio_format import CHUNK_BYTES
from roomscribe.core.quiet_skip import QuietSkip, level_db

SAMPLES = CHUNK_BYTES // 2


def square(amplitude: int, tag: int = 0) -> bytes:
    """A 10 ms chunk at a steady level; `tag` (a tiny offset of the first sample) tells chunks apart."""
    samples = [amplitude if i % 2 else -amplitude for i in range(SAMPLES)]
    samples[0] += tag % 3
    return struct.pack(f"<{SAMPLES}h", *samples)


class Recording:
    """A detector that answers from a script (by chunk) and records what it heard."""

    def __init__(self, answer=lambda pcm: 0.0):
        self.heard: list[bytes] = []
        self.resets = 0
        self._answer = answer

    def speech_probability(self, pcm: bytes) -> float:
        self.heard.append(pcm)
        return self._answer(pcm)

    def reset(self) -> None:
        self.resets += 1


QUIET, LOUD = 100, 3000  # about 40 and 70 dB: 30 dB apart


def test_level_db():
    assert level_db(bytes(CHUNK_BYTES)) == 0.0
    assert level_db(square(32767)) == pytest.approx(20 * math.log10(32767), abs=0.01)
    assert level_db(square(QUIET)) == pytest.approx(40.0, abs=0.1)


def test_the_detector_rests_only_after_it_heard_nothing_like_speech_for_the_settle_time():
    detector = Recording()
    skip = QuietSkip(detector, settle_chunks=50)
    for i in range(200):
        assert skip.speech_probability(square(QUIET, i)) == 0.0
    assert len(detector.heard) == 50  # then the quiet chunks are answered without it
    assert skip.stats.chunks == 200 and skip.stats.detector_calls == 50


def test_a_louder_chunk_wakes_the_detector_which_first_hears_the_kept_chunks_in_order():
    detector = Recording(lambda pcm: 0.9 if level_db(pcm) > 60 else 0.0)
    skip = QuietSkip(detector, settle_chunks=10, catch_up_chunks=40)
    quiet = [square(QUIET, i) for i in range(100)]  # 10 heard, 90 kept: only the last 40 stay
    for chunk in quiet:
        skip.speech_probability(chunk)
    heard_before = len(detector.heard)
    assert skip.speech_probability(square(LOUD)) == 0.9  # judged by the detector, not answered for it
    caught_up = detector.heard[heard_before:]
    assert caught_up == quiet[-40:] + [square(LOUD)]  # the last 40 quiet chunks, oldest first, then the loud one


def test_while_the_detector_hears_speech_every_chunk_goes_to_it():
    detector = Recording(lambda pcm: 0.8)  # speech, however quiet the chunk
    skip = QuietSkip(detector, settle_chunks=5)
    for i in range(300):
        assert skip.speech_probability(square(QUIET, i)) == 0.8
    assert len(detector.heard) == 300


def test_an_answer_over_calm_below_keeps_the_detector_awake():
    detector = Recording(lambda pcm: 0.3)
    skip = QuietSkip(detector, calm_below=0.25, settle_chunks=5)
    for i in range(100):
        skip.speech_probability(square(QUIET, i))
    assert len(detector.heard) == 100


def test_a_room_that_gets_louder_is_a_new_floor_within_seconds():
    detector = Recording()
    skip = QuietSkip(detector, settle_chunks=10)
    for i in range(100):
        skip.speech_probability(square(QUIET, i))
    heard = len(detector.heard)
    for i in range(1000):  # the fan comes on: 20 dB louder, for 10 s
        skip.speech_probability(square(QUIET * 10, i))
    assert len(detector.heard) - heard < 500  # heard while the floor rose (about 2 s at 5 dB a second)
    heard = len(detector.heard)
    for i in range(200):
        skip.speech_probability(square(QUIET * 10, i))
    assert len(detector.heard) == heard  # the new floor: resting again


def test_reset_forgets_the_kept_chunks_and_resets_the_detector():
    detector = Recording()
    skip = QuietSkip(detector, settle_chunks=10)
    for i in range(100):
        skip.speech_probability(square(QUIET, i))
    skip.reset()
    assert detector.resets == 1
    heard = len(detector.heard)
    skip.speech_probability(square(LOUD))
    assert detector.heard[heard:] == [square(LOUD)]  # nothing from before the reset is caught up
    for i in range(5):
        skip.speech_probability(square(QUIET, i))
    assert len(detector.heard) == heard + 6  # and it settles again before resting
