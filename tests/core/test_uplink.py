"""What the session is written, and when: write-through, window, stall, replay into a new session, loss."""

from __future__ import annotations

import pytest

from roomscribe.core.audio_format import BYTES_PER_SECOND, CHUNK_BYTES, CHUNK_MS
from roomscribe.core.gate import Write
from roomscribe.core.outage_book import StreamMap
from roomscribe.core.uplink import Uplink

T0 = 1_700_000_000.0
STEP = CHUNK_MS / 1000
SECOND = BYTES_PER_SECOND


def chunk(index: int) -> Write:
    return Write((index + 1).to_bytes(4, "little") * (CHUNK_BYTES // 4), T0 + index * STEP, live=True)


def index_of(pcm: bytes) -> int:
    return int.from_bytes(pcm[:4], "little") - 1


def make(capacity_s: float = 600.0, window_s: float = 5.0) -> Uplink:
    return Uplink(int(capacity_s * SECOND), is_speech=lambda w: w.live, window_s=window_s, block_bytes=8 * CHUNK_BYTES)


class Room:
    """Feeds numbered chunks in real time and keeps what each session was written."""

    def __init__(self, uplink: Uplink):
        self.uplink, self.fed, self.now = uplink, 0, 100.0
        self.written: dict[int, list[int]] = {}
        self.session = 0

    def attach(self) -> StreamMap:
        self.session += 1
        self.written[self.session] = []
        return self.uplink.attach(self.now)

    def feed(self, seconds: float) -> None:
        for _ in range(round(seconds / STEP)):
            self.now += STEP
            self.take(self.uplink.push([chunk(self.fed)], self.now))
            self.fed += 1

    def take(self, pieces) -> None:
        for piece in pieces:
            for at in range(0, len(piece.pcm), CHUNK_BYTES):
                index = index_of(piece.pcm[at:at + 4])
                assert piece.pos + at == index * CHUNK_BYTES and piece.wall_clock + at / SECOND == pytest.approx(
                    T0 + index * STEP)
                self.written[self.session].append(index)


def test_an_answering_session_is_written_each_chunk_as_it_comes():
    room = Room(make())
    room.attach()
    room.uplink.answered(room.now, connection=True)
    room.feed(1.0)
    assert room.written[1] == list(range(100))


def test_a_session_that_has_not_answered_is_written_nothing_and_then_one_window_at_once():
    room = Room(make(window_s=5.0))
    stream = room.attach()
    room.feed(8.0)
    assert room.written[1] == []  # connecting: nothing goes into the SDK's buffers yet
    room.uplink.answered(room.now, connection=True)
    assert room.written[1] == []  # answered: the next pump sends what it may
    room.take(room.uplink.pump(room.now))
    assert room.written[1] == list(range(500))  # one window
    room.uplink.acknowledged(stream, 300 * CHUNK_BYTES)
    room.take(room.uplink.pump(room.now))
    assert room.written[1] == list(range(800))  # the window slides with what the service acknowledged


def test_a_stalled_session_is_written_nothing_and_then_the_held_audio_in_order_within_the_window():
    room = Room(make(window_s=5.0))
    stream = room.attach()
    room.uplink.answered(room.now, connection=True)
    room.feed(2.0)
    room.uplink.acknowledged(stream, 150 * CHUNK_BYTES)  # a final result up to chunk 150
    room.uplink.stall(room.now)
    room.feed(20.0)
    assert room.written[1] == list(range(200))
    assert room.uplink.check(room.now).waiting_s == pytest.approx(20.0)
    room.uplink.answered(room.now)  # the service is back
    room.take(room.uplink.pump(room.now))
    assert room.written[1] == list(range(650))  # the window: 5 s past what it acknowledged (chunk 150)
    room.uplink.acknowledged(stream, 600 * CHUNK_BYTES)
    room.feed(0.5)  # up to the window again (chunk 1100), and past it at real-time pace
    assert room.written[1] == list(range(1149))
    while room.uplink.check(room.now).waiting_s > 0:
        room.uplink.acknowledged(stream, stream.written)
        room.feed(0.1)
    written = room.written[1]
    assert written == list(range(len(written))) and len(written) == room.fed  # every chunk, once, in order
    # Late: from the oldest unacknowledged audio at the stall to the end of what waited.
    assert not room.uplink.is_late(0, 150 * CHUNK_BYTES)
    assert room.uplink.is_late(150 * CHUNK_BYTES, 151 * CHUNK_BYTES)
    assert room.uplink.is_late(2000 * CHUNK_BYTES, 2001 * CHUNK_BYTES)
    assert not room.uplink.is_late((room.fed + 10) * CHUNK_BYTES, (room.fed + 11) * CHUNK_BYTES)


def test_a_caught_up_outage_is_reported_once():
    room = Room(make(window_s=60.0))
    stream = room.attach()
    room.uplink.answered(room.now, connection=True)
    room.feed(1.0)
    room.uplink.stall(room.now)
    room.feed(10.0)
    room.uplink.answered(room.now)
    room.take(room.uplink.pump(room.now))
    report = room.uplink.check(room.now)
    assert report.caught_up is not None and report.caught_up.buffered_s == pytest.approx(11.0)
    assert report.caught_up.outage_s == pytest.approx(10.0)
    assert room.uplink.check(room.now).caught_up is None
    assert stream.written == 1100 * CHUNK_BYTES


def test_a_new_session_is_sent_exactly_what_no_session_acknowledged():
    room = Room(make(window_s=600.0))
    first = room.attach()
    room.uplink.answered(room.now, connection=True)
    room.feed(3.0)
    room.uplink.acknowledged(first, 120 * CHUNK_BYTES)
    room.uplink.stall(room.now)
    room.feed(5.0)
    room.uplink.detach(room.now, abandoned=True)
    room.feed(5.0)
    second = room.attach()
    room.uplink.answered(room.now, connection=True)
    room.take(room.uplink.pump(room.now))
    room.feed(1.0)
    assert room.written[1] == list(range(300))
    assert room.written[2] == list(range(120, room.fed))  # from the last acknowledgement: no gap, no repeat
    assert second.position(0) == 120 * CHUNK_BYTES
    assert second.position(10 * CHUNK_BYTES) == 130 * CHUNK_BYTES


def test_overflow_with_no_session_loses_the_oldest_audio_and_reports_one_span():
    room = Room(make(capacity_s=2.0))
    room.attach()
    room.uplink.answered(room.now, connection=True)
    room.feed(1.0)
    room.uplink.detach(room.now, abandoned=True)  # lost, nothing acknowledged: chunks 0-99 wait
    room.feed(3.0)  # 4 s kept in 2 s of room: the oldest 2 s go
    assert room.uplink.check(room.now).lost == []  # still growing
    room.now += 2.0
    [span] = room.uplink.check(room.now).lost
    assert (span.start_pos, span.end_pos) == (0, 200 * CHUNK_BYTES)
    assert (span.start, span.end) == (pytest.approx(T0), pytest.approx(T0 + 2.0))
    assert span.seconds == pytest.approx(2.0)
    second = room.attach()
    room.uplink.answered(room.now, connection=True)
    room.take(room.uplink.pump(room.now))
    assert room.written[2] == list(range(200, 400)) and second.position(0) == 200 * CHUNK_BYTES


def test_overflow_of_audio_a_session_holds_is_lost_only_if_that_session_never_acknowledges_it():
    for acknowledged in (True, False):
        room = Room(make(capacity_s=2.0, window_s=1.0))
        stream = room.attach()
        room.uplink.answered(room.now, connection=True)
        room.feed(1.0)  # written chunks 0-99, none acknowledged
        room.uplink.stall(room.now)
        room.feed(3.0)  # 4 s in 2 s of room: chunks 0-199 go
        assert room.written[1] == list(range(100))
        room.now += 2.0
        [lost] = room.uplink.check(room.now).lost  # chunks 100-199 were only ever here
        assert (lost.start_pos, lost.end_pos) == (100 * CHUNK_BYTES, 200 * CHUNK_BYTES)
        if acknowledged:
            room.uplink.answered(room.now)
            room.uplink.acknowledged(stream, 100 * CHUNK_BYTES)
        room.uplink.detach(room.now, abandoned=True)
        room.now += 2.0
        spans = room.uplink.check(room.now).lost
        assert [(s.start_pos, s.end_pos) for s in spans] == ([] if acknowledged else [(0, 100 * CHUNK_BYTES)])
        room.attach()
        room.uplink.answered(room.now, connection=True)
        room.take(room.uplink.pump(room.now))
        assert room.written[2][0] == 200  # the session jumps over what was lost


def test_an_answering_session_is_written_at_real_time_pace_past_the_window_and_old_audio_is_forgotten():
    # Silence the service acknowledges without a visible event: no final result ever slides the window.
    room = Room(make(window_s=5.0))
    room.attach()
    room.uplink.answered(room.now, connection=True)
    room.feed(100.0)
    assert room.written[1] == list(range(10_000))
    kept = len(room.uplink.backlog) / SECOND
    assert kept == pytest.approx(70.0, abs=0.1)  # 66 s + margin: a live SDK acknowledged everything older


def test_discard_reports_everything_kept_as_lost_and_ends_the_outage():
    room = Room(make())
    room.attach()
    room.uplink.answered(room.now, connection=True)
    room.feed(1.0)
    room.uplink.detach(room.now, abandoned=True)
    room.feed(1.0)
    earlier, span = room.uplink.discard(room.now)
    assert earlier == []
    assert (span.start_pos, span.end_pos) == (0, 200 * CHUNK_BYTES)
    assert len(room.uplink.backlog) == 0
    assert room.uplink.is_late(150 * CHUNK_BYTES, 151 * CHUNK_BYTES)
    assert not room.uplink.is_late(250 * CHUNK_BYTES, 251 * CHUNK_BYTES)
