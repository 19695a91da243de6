"""The benchmarks' measuring tools: traceable audio, locating received audio in time, leak and latency reading."""

from __future__ import annotations

import random

import pytest

from roomscribe.core.audio_format import BYTES_PER_SECOND, CHUNK_BYTES
from roomscribe.emulator.record import AudioFrame
from roomscribe.emulator.decode import decode
from tests.support.bench_modules import add_bench_to_path

add_bench_to_path()
import common  # noqa: E402  (bench/common.py)

SCRIPT = "Alice: Hello there.\nBob: Bob talks now.\n[silence 1.0]\nAlice: SECRET line.\n"


@pytest.fixture(scope="module")
def meeting():
    return common.traceable_meeting(SCRIPT)


def frame(data: bytes, arrived_at: float, kind: str = "pcm") -> AudioFrame:
    return AudioFrame(connection=1, request_id="r", turn=0, kind=kind, size=len(data), stream_offset=0,
                      arrived_at=arrived_at, audio_session_id="s", data=data)


def test_dither_leaves_the_speech_recognizable(meeting):
    import numpy as np

    pcm, planned = meeting
    heard = decode(np.frombuffer(pcm, dtype="<i2"))
    assert [p.text for p in heard] == [u.text for u in planned]
    assert len({p.speaker for p in heard}) == 2


def test_every_stretch_is_found_where_it_was_taken(meeting):
    pcm, _ = meeting
    playback = common.Playback(pcm, started_at=1000.0)
    rnd = random.Random(1)
    for _ in range(200):
        start = rnd.randrange(0, len(pcm) - 4000) // 2 * 2
        size = rnd.randrange(common.WINDOW_BYTES, 3200) // 2 * 2
        found = playback.locate(pcm[start : start + size])
        # The last whole window of the slice, counted back from its end.
        last_window = start + size - common.WINDOW_BYTES
        assert found is not None and start <= found <= last_window
        assert pcm.find(pcm[found : found + common.WINDOW_BYTES]) == found


def test_tail_silence_is_not_from_the_file_and_live_audio_after_it_is(meeting):
    pcm, _ = meeting
    playback = common.Playback(pcm, started_at=1000.0)
    assert playback.locate(bytes(3200)) is None
    live = pcm[64000 : 64000 + CHUNK_BYTES]
    found = playback.locate(bytes(3200 - CHUNK_BYTES) + live)
    assert found is not None and 64000 <= found < 64000 + CHUNK_BYTES
    assert playback.captured_at(found) == pytest.approx(1000.0 + 64000 / BYTES_PER_SECOND)


def test_chunks_between_takes_whole_chunks_only(meeting):
    pcm, _ = meeting
    playback = common.Playback(pcm, started_at=1000.0)
    chunk_s = CHUNK_BYTES / BYTES_PER_SECOND
    chunks = playback.chunks_between(1000.0 + 0.75 * chunk_s, 1000.0 + 5.25 * chunk_s)
    # Chunks 1 to 4 lie wholly inside; chunks 0 and 5 stick out.
    assert [position for position, _ in chunks] == [CHUNK_BYTES, 2 * CHUNK_BYTES, 3 * CHUNK_BYTES, 4 * CHUNK_BYTES]
    assert all(data == pcm[p : p + CHUNK_BYTES] for p, data in chunks)


def test_leaks_are_found_whole_or_split_and_absence_counts_zero(meeting):
    pcm, _ = meeting
    playback = common.Playback(pcm, started_at=1000.0)
    paused = playback.chunks_between(1001.0, 1002.0)
    elsewhere = pcm[: 1000 * CHUNK_BYTES // 2]
    assert common.leaked_bytes(paused, [elsewhere[:32000], bytes(9600)]) == 0
    secret_position, secret = paused[10]
    assert common.leaked_bytes(paused, [elsewhere[:3200] + secret + bytes(640)]) == CHUNK_BYTES
    assert common.leaked_chunks(paused, [bytes(64), secret]) == [(secret_position, CHUNK_BYTES)]
    # Half a chunk, as a stream cut at a replay boundary would hold it.
    assert common.leaked_bytes(paused, [bytes(100) + secret[CHUNK_BYTES // 2 :]]) == CHUNK_BYTES // 2


def test_first_live_frame_skips_tail_and_audio_from_before_the_pause(meeting):
    pcm, _ = meeting
    playback = common.Playback(pcm, started_at=1000.0)
    paused_at, resumed_at = 1001.0, 1002.0
    before = pcm[int(0.9 * BYTES_PER_SECOND) : int(0.9 * BYTES_PER_SECOND) + 3200]
    after = pcm[int(2.0 * BYTES_PER_SECOND) : int(2.0 * BYTES_PER_SECOND) + 640]
    frames = [
        frame(before, 1000.95),
        frame(bytes(3200), 1001.0),  # the tail
        frame(before[:3200 - 640] + after, 1002.03),  # held audio from before the pause, then live audio
        frame(before, 1002.01),  # a replay of old audio arriving first after the resume
        frame(b"RIFF" + bytes(40), 1002.005, kind="wav-header"),
    ]
    found = common.first_live_frame(frames, playback, after=resumed_at, live_since=paused_at)
    assert found is frames[2]
    assert common.first_live_frame(frames[:2], playback, after=resumed_at, live_since=paused_at) is None
