"""The privacy accounting cannot be fooled by trimming and still finds planted leaks."""

from __future__ import annotations

import random

import pytest

from roomscribe.demo.privacy_audit import account, leak, sent_seconds

CHUNK = 320
SECOND = 32000


@pytest.fixture(scope="module")
def captured() -> bytes:
    rng = random.Random(7)
    return bytes(rng.randrange(1, 256) for _ in range(3 * SECOND))  # 3 s of non-silent "audio"


START, END = 1.0, 2.0
A, B = int(START * SECOND), int(END * SECOND)
TAIL = bytes(25 * CHUNK)


def test_a_clean_pause_is_no_leak(captured):
    assert leak(captured[:A] + TAIL + captured[B:], captured, START, END) is None


def test_a_trimmed_head_and_chunks_dropped_at_the_edges_are_no_leak(captured):
    stream = captured[3 * CHUNK : A - 2 * CHUNK] + TAIL + captured[B + 5 * CHUNK : -CHUNK]
    assert leak(stream, captured, START, END) is None
    assert leak(captured[960:A] + captured[B:], captured, START, END) is None  # no tail in between


def test_the_accounting_names_every_piece(captured):
    stream = captured[960:A] + TAIL + captured[B:]
    pieces = account(stream, captured)
    assert [(p.captured_at, p.length) for p in pieces] == [(960, A - 960), (None, len(TAIL)), (B, len(captured) - B)]
    sound, silence = sent_seconds(stream, captured)
    assert sound == pytest.approx((len(captured) - B + A - 960) / SECOND) and silence == pytest.approx(len(TAIL) / SECOND)


def test_a_replay_of_audio_already_sent_is_no_leak(captured):
    stream = captured[:A] + TAIL + captured[B : B + SECOND // 2] + captured[B + SECOND // 4 :]
    assert leak(stream, captured, START, END) is None


@pytest.mark.parametrize(
    "stream",
    [
        lambda c: c[: A + 2 * CHUNK] + TAIL + c[B:],  # 20 ms too much before the pause
        lambda c: c[:A] + TAIL + c[B - 2 * CHUNK :],  # resumed 20 ms too early
        lambda c: c,  # no pause at all
        lambda c: c[960:A] + TAIL + c[A + SECOND // 2 : A + SECOND // 2 + CHUNK] + TAIL + c[B:],  # one chunk from the middle
        lambda c: c[B:] + TAIL + c[A : A + 4 * CHUNK],  # a piece sent later, out of order
    ],
    ids=["before", "after", "no-pause", "middle-chunk", "out-of-order"],
)
def test_planted_leaks_are_found(captured, stream):
    assert "was sent" in leak(stream(captured), captured, START, END)


def test_sound_that_was_never_captured_is_unaccounted(captured):
    noise = bytes(random.Random(8).randrange(1, 256) for _ in range(4 * CHUNK))
    assert "unaccounted" in leak(captured[:A] + TAIL + noise, captured, START, END)
