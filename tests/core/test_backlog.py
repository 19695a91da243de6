"""The outage buffer's storage: positions, capture times, blocks given back, overflow."""

from __future__ import annotations

import pytest

from roomscribe.core.audio_format import BYTES_PER_SECOND, CHUNK_BYTES, CHUNK_MS
from roomscribe.core.backlog import Backlog, CaptureMap, LostSpan

T0 = 1_700_000_000.0
BLOCK = 4 * CHUNK_BYTES  # small blocks, so a few chunks cross them


def chunk(index: int) -> bytes:
    return (index + 1).to_bytes(4, "little") * (CHUNK_BYTES // 4)


def fill(backlog: Backlog, first: int, count: int, *, t0: float = T0, speech: bool = True) -> None:
    for i in range(first, first + count):
        backlog.append(chunk(i), t0 + i * CHUNK_MS / 1000, speech)


def test_what_is_read_back_is_what_was_appended_with_its_capture_time_across_blocks():
    backlog = Backlog(100 * CHUNK_BYTES, block_bytes=BLOCK)
    fill(backlog, 0, 10)
    pieces = backlog.read(0, 10 * CHUNK_BYTES)
    assert b"".join(p.pcm for p in pieces) == b"".join(chunk(i) for i in range(10))
    assert all(len(p.pcm) <= BLOCK for p in pieces)  # a piece never spans two blocks
    for piece in pieces:
        assert piece.wall_clock == pytest.approx(T0 + piece.pos / BYTES_PER_SECOND)
    # From the middle of a chunk: the time of that byte.
    [piece] = backlog.read(CHUNK_BYTES + 64, 32)
    assert piece.wall_clock == pytest.approx(T0 + 0.01 + 64 / BYTES_PER_SECOND)
    assert piece.pcm == chunk(1)[64:96]


def test_a_gap_in_capture_time_or_a_change_of_speech_starts_a_segment_and_pieces_split_there():
    backlog = Backlog(100 * CHUNK_BYTES, block_bytes=100 * CHUNK_BYTES)
    fill(backlog, 0, 3)
    fill(backlog, 3, 3, t0=T0 + 60.0)  # a pause: 60 s later
    fill(backlog, 6, 2, t0=T0 + 60.0, speech=False)
    assert backlog.times.segments == 3
    pieces = backlog.read(0, 8 * CHUNK_BYTES)
    assert [(p.pos // CHUNK_BYTES, p.speech) for p in pieces] == [(0, True), (3, True), (6, False)]
    assert pieces[1].wall_clock == pytest.approx(T0 + 60.03)


def test_trim_forgets_audio_and_gives_back_whole_blocks():
    backlog = Backlog(100 * CHUNK_BYTES, block_bytes=BLOCK)
    fill(backlog, 0, 20)
    assert backlog.resident_bytes == 5 * BLOCK
    backlog.trim(9 * CHUNK_BYTES)
    assert backlog.start == 9 * CHUNK_BYTES and len(backlog) == 11 * CHUNK_BYTES
    assert backlog.resident_bytes == 3 * BLOCK + BLOCK  # blocks 2-4, and one spare
    with pytest.raises(ValueError):
        backlog.read(0, CHUNK_BYTES)
    assert backlog.read(9 * CHUNK_BYTES, CHUNK_BYTES)[0].pcm == chunk(9)
    backlog.clear()
    assert len(backlog) == 0 and backlog.resident_bytes == BLOCK  # the spare only
    fill(backlog, 20, 2)  # appending after a clear starts afresh in the spare
    assert backlog.read(backlog.start, 2 * CHUNK_BYTES)[0].pcm == chunk(20) + chunk(21)
    assert backlog.peak_bytes == 5 * BLOCK


def test_overflow_names_the_oldest_bytes_to_drop_and_append_refuses_without_room():
    backlog = Backlog(10 * CHUNK_BYTES, block_bytes=BLOCK)
    fill(backlog, 0, 10)
    assert backlog.overflow(CHUNK_BYTES) == CHUNK_BYTES
    assert backlog.overflow(1) == 2  # whole samples
    with pytest.raises(OverflowError):
        fill(backlog, 10, 1)
    span = backlog.times.span(0, 3 * CHUNK_BYTES)
    assert span == LostSpan(0, 3 * CHUNK_BYTES, T0, pytest.approx(T0 + 0.03))
    assert span.seconds == pytest.approx(0.03)


def test_a_capture_map_copied_in_pieces_keeps_the_times():
    source = CaptureMap()
    source.add(0, 1000, T0, True)
    source.add(1000, 1000, T0 + 5.0, False)
    copy = CaptureMap()
    copy.add_from(source, 500, 1200)
    copy.add_from(source, 1200, 2000)
    assert copy.segments == 2
    assert copy.wall_at(500) == pytest.approx(T0 + 500 / BYTES_PER_SECOND)
    assert copy.wall_at(1500) == pytest.approx(T0 + 5.0 + 500 / BYTES_PER_SECOND)
    assert copy.end_wall(1000) == pytest.approx(T0 + 1000 / BYTES_PER_SECOND)


M0 = 5_000.0  # the monotonic clock: seconds since boot


def test_audio_that_knows_its_monotonic_time_keeps_it_and_a_wall_clock_step_does_not_split_it():
    backlog = Backlog(100 * CHUNK_BYTES, block_bytes=100 * CHUNK_BYTES)
    for i in range(6):
        # The wall clock steps 3 days forward after chunk 2; the monotonic clock runs on.
        wall = T0 + i * CHUNK_MS / 1000 + (259_200.0 if i >= 3 else 0.0)
        backlog.append(chunk(i), wall, True, M0 + i * CHUNK_MS / 1000)
    assert backlog.times.segments == 1
    pieces = backlog.read(0, 6 * CHUNK_BYTES)
    assert pieces[0].monotonic == pytest.approx(M0)
    [piece] = backlog.read(4 * CHUNK_BYTES, CHUNK_BYTES)
    assert piece.monotonic == pytest.approx(M0 + 0.04)
    # A gap on the monotonic clock (a pause) starts a segment, whatever the wall clock says.
    backlog.append(chunk(6), T0 + 0.06, True, M0 + 60.0)
    assert backlog.times.segments == 2
    assert backlog.read(6 * CHUNK_BYTES, CHUNK_BYTES)[0].monotonic == pytest.approx(M0 + 60.0)


def test_a_lost_span_is_timed_on_the_wall_clock_of_its_report():
    backlog = Backlog(100 * CHUNK_BYTES, block_bytes=BLOCK)
    for i in range(4):
        backlog.append(chunk(i), T0 + i * CHUNK_MS / 1000 + (-3600.0 if i >= 2 else 0.0), True, M0 + i * CHUNK_MS / 1000)
    span = backlog.times.span(0, 4 * CHUNK_BYTES)
    assert (span.start_mono, span.end_mono) == (pytest.approx(M0), pytest.approx(M0 + 0.04))
    # The offset in force when it is reported, whatever the clock did while the audio waited.
    assert span.times(T0 + 100.0 - M0) == (pytest.approx(T0 + 100.0), pytest.approx(T0 + 100.04))
    assert span.times(None) == (span.start, span.end)
    # A span joined with one that does not know its monotonic times falls back to the stamped ones.
    stamped = LostSpan(4 * CHUNK_BYTES, 5 * CHUNK_BYTES, T0 + 0.04, T0 + 0.05)
    joined = span.joined(stamped)
    assert joined.times(123.0) == (span.start, T0 + 0.05) and joined.seconds == pytest.approx(0.05)
