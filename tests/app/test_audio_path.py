"""The audio path: the capture thread writes through the gate while the owner opens, closes and re-targets it.

The session here is a recorder of writes: what is under test is the ordering between two threads, which
the daemon tests (real SDK, emulator) cover end to end but cannot provoke at will.
"""

from __future__ import annotations

import threading

import pytest

from roomscribe.core.audio_format import CHUNK_BYTES, CHUNK_MS, AudioChunk, bytes_to_ticks
from roomscribe.app.audio_path import AudioPath
from roomscribe.core.gate import AudioGate
from roomscribe.core.timeline import Timeline

T0 = 1_700_000_000.0
CHUNK_S = CHUNK_MS / 1000


class RecordingSession:
    """Keeps what it is written; `writes` gives it chunk by chunk (the outage buffer may write several
    chunks at once, or a chunk in two pieces where its memory blocks meet)."""

    def __init__(self):
        self.data = bytearray()
        self.written_bytes = 0

    def write(self, pcm: bytes) -> None:
        self.data += pcm
        self.written_bytes += len(pcm)

    @property
    def writes(self) -> list[bytes]:
        data = bytes(self.data)
        return [data[i:i + CHUNK_BYTES] for i in range(0, len(data), CHUNK_BYTES)]


def attach(path: AudioPath, session, timeline: Timeline | None = None):
    """Attach `session`, whose service then takes the connection (a session is written once it answered)."""
    stream = path.attach(session, timeline if timeline is not None else Timeline())
    path.answered(session, connection=True)
    return stream


def chunk(index: int) -> AudioChunk:
    """A chunk whose bytes say which one it is (never all zeros, unlike the tail's silence)."""
    return AudioChunk((index + 1).to_bytes(4, "little") * (CHUNK_BYTES // 4), T0 + index * CHUNK_S)


def index_of(pcm: bytes) -> int:
    return int.from_bytes(pcm[:4], "little") - 1


class Feeder(threading.Thread):
    """Feeds numbered chunks as fast as it can, as a capture thread would (only faster)."""

    def __init__(self, path: AudioPath):
        super().__init__(daemon=True)
        self.path, self.fed, self.stop = path, 0, threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            self.path.feed(chunk(self.fed))
            self.fed += 1


def test_nothing_fed_after_close_returns_is_written_and_the_tail_follows_the_last_live_chunk():
    for _ in range(20):
        path = AudioPath(AudioGate(tail_ms=100))
        session = RecordingSession()
        attach(path, session)
        path.open()
        feeder = Feeder(path)
        feeder.start()
        while feeder.fed < 50:
            pass
        path.close(tail=True, at_once=True)
        fed_at_close = feeder.fed  # chunks counted after close() returned were fed after the gate closed
        while feeder.fed < fed_at_close + 50:
            pass
        feeder.stop.set()
        feeder.join()
        live = [w for w in session.writes if any(w)]
        assert [index_of(w) for w in live] == list(range(len(live)))  # in order, none skipped
        assert index_of(live[-1]) <= fed_at_close
        assert all(not any(w) for w in session.writes[len(live):])  # only the tail after the last live chunk
        assert len(session.writes) > len(live)


def test_after_detach_returns_the_old_session_gets_nothing_and_the_new_one_everything_not_acknowledged():
    path = AudioPath(AudioGate(tail_ms=100))
    old, new = RecordingSession(), RecordingSession()
    attach(path, old)
    path.open()
    feeder = Feeder(path)
    feeder.start()
    while feeder.fed < 50:
        pass
    path.detach()
    count_at_detach = len(old.writes)
    while feeder.fed < 100:
        pass
    attach(path, new)
    while len(new.writes) < 50:  # by what the new session got, not by a count the feeder may have passed
        pass
    feeder.stop.set()
    feeder.join()
    assert len(old.writes) == count_at_detach
    # Nothing was acknowledged (no service here): the new session is sent it all, from the first chunk,
    # then what came since, in order, none skipped.
    assert [index_of(w) for w in new.writes] == list(range(len(new.writes)))


def test_writes_land_on_the_timeline_so_offsets_give_capture_times_across_a_pause():
    path = AudioPath(AudioGate(tail_ms=50))
    session, timeline = RecordingSession(), Timeline()
    attach(path, session, timeline)
    path.open()
    for i in range(10):
        path.feed(chunk(i))
    path.close(tail=True)
    for i in range(10, 500):
        path.feed(chunk(i))  # paused: dropped
    path.open()
    path.feed(chunk(500))
    assert timeline.written_bytes == session.written_bytes
    resumed_at = bytes_to_ticks(session.written_bytes - CHUNK_BYTES)
    assert path.wall_span(timeline, resumed_at, 0)[0] == chunk(500).captured_at
    assert path.wall_span(timeline, bytes_to_ticks(CHUNK_BYTES), 0)[0] == chunk(1).captured_at
    assert path.stats.dropped_after_close == 490 * CHUNK_BYTES
    assert path.is_open


# -- with the voice stage: only speech goes out, and its pre-roll never spans a pause ------------------


class ScriptedDetector:
    """Speech exactly in the chunks whose index is in `speech` (the chunk's bytes say its index)."""

    def __init__(self, speech: set[int]):
        self.speech, self.resets = speech, 0

    def speech_probability(self, pcm: bytes) -> float:
        return 1.0 if index_of(pcm) in self.speech else 0.0

    def reset(self) -> None:
        self.resets += 1


def voiced_path(speech: set[int], **settings):
    from roomscribe.core.voice_filter import VoiceFilterSettings, VoiceStage

    detector = ScriptedDetector(speech)
    stage = VoiceStage(detector, VoiceFilterSettings(**{"pre_roll_ms": 50, "hangover_ms": 30, "onset_frames": 2, **settings}))
    path = AudioPath(AudioGate(tail_ms=50), stage)
    session = RecordingSession()
    attach(path, session)
    return path, session, detector


def test_only_speech_with_its_pre_roll_and_hangover_reaches_the_session():
    path, session, _ = voiced_path(speech=set(range(100, 120)))
    path.open()
    for i in range(200):
        assert path.feed(chunk(i))  # the gate took every chunk, whatever the stage sent
    sent = [index_of(w) for w in session.writes if any(w)]
    # onset after 2 speech chunks; 5 chunks of pre-roll before the onset frames; 3 of hangover after
    assert sent == list(range(95, 123))
    # then 100 ms of digital silence, so the phrase ends promptly at the service
    assert session.writes[len(sent):] == [bytes(CHUNK_BYTES)] * 10
    assert path.activity().sent_bytes == session.written_bytes == 38 * CHUNK_BYTES


def test_a_pause_drops_the_pre_roll_and_needs_no_tail_when_nothing_was_being_sent():
    path, session, detector = voiced_path(speech={10, 11, 12} | set(range(40, 60)))
    path.open()
    for i in range(30):
        path.feed(chunk(i))
    path.feed(chunk(30))  # no speech since chunk 12: the stage is suppressing, its ring holds 26-30
    path.close(tail=True, at_once=True)
    # The phrase of chunks 10-12 got its silence when the hangover ended; the pause adds none.
    assert [not any(w) for w in session.writes].count(True) == 10
    assert detector.resets == 1
    path.open()
    for i in range(31, 70):
        path.feed(chunk(i))
    after = [index_of(w) for w in session.writes if any(w)]
    assert min(i for i in after if i > 20) >= 35  # the pre-roll after the resume holds only chunks fed after it
    assert not set(after) & set(range(26, 31))  # what the ring held at the pause never went out


def test_a_pause_while_speech_is_sent_ends_the_phrase_with_a_tail():
    path, session, _ = voiced_path(speech=set(range(5, 100)))
    path.open()
    for i in range(20):
        path.feed(chunk(i))
    assert path.activity().sending
    path.close(tail=True, at_once=True)
    assert not any(session.writes[-1]) and not path.activity().sending


def test_keep_alive_writes_one_sdk_frame_of_silence_only_after_the_idle_time_and_only_while_open():
    now = [0.0]
    path = AudioPath(AudioGate(tail_ms=0), clock=lambda: now[0])
    session = RecordingSession()
    attach(path, session)
    path.close(tail=False)
    assert not path.keep_alive(240, T0)  # closed
    path.open()
    now[0] = 100.0
    assert not path.keep_alive(240, T0)  # not idle long enough
    now[0] = 241.0
    assert path.keep_alive(240, T0)
    assert session.writes == [bytes(CHUNK_BYTES)] * 10 and session.written_bytes == 3200
    assert not path.keep_alive(240, T0 + 1)  # the keep-alive itself was a write
    path.close(tail=False)
    now[0] = 1000.0
    assert not path.keep_alive(240, T0)  # a pause handles idle closes its own way


# -- the outage buffer: held while the service is away, sent again to a new session, privacy kept ------


def test_a_stalled_session_gets_nothing_more_and_the_held_chunks_in_order_when_it_answers():
    path = AudioPath(AudioGate(tail_ms=100))
    session = RecordingSession()
    attach(path, session)
    path.open()
    for i in range(50):
        path.feed(chunk(i))
    path.stall()
    for i in range(50, 150):
        path.feed(chunk(i))
    assert [index_of(w) for w in session.writes] == list(range(50))
    assert path.activity().waiting_s == pytest.approx(1.0)
    path.answered(session)
    assert [index_of(w) for w in session.writes] == list(range(150))
    assert path.activity().waiting_s == 0


def test_a_pause_during_an_outage_keeps_out_of_the_buffer_everything_after_it_also_for_a_new_session():
    path = AudioPath(AudioGate(tail_ms=100))
    first = RecordingSession()
    attach(path, first)
    path.open()
    for i in range(50):
        path.feed(chunk(i))
    path.stall()  # the service stopped answering: 50-99 wait
    for i in range(50, 100):
        path.feed(chunk(i))
    path.close(tail=True)  # pause: paced tail, then nothing
    for i in range(100, 300):
        path.feed(chunk(i))
    path.detach(abandoned=True)  # given up; a new session is sent what none acknowledged
    second = RecordingSession()
    attach(path, second)
    live = [index_of(w) for w in second.writes if any(w)]
    assert live == list(range(100))  # everything before the pause, once, in order; nothing after it
    tail = second.writes[100:]
    assert len(tail) >= 10 and not any(any(w) for w in tail)  # and the pause tail's silence (frame-aligned)
    path.open()  # resume
    for i in range(300, 310):
        path.feed(chunk(i))
    assert [index_of(w) for w in second.writes if any(w)] == list(range(100)) + list(range(300, 310))


def test_nothing_fed_after_a_close_during_an_outage_ever_reaches_a_session():
    for _ in range(10):
        path = AudioPath(AudioGate(tail_ms=50))
        first = RecordingSession()
        attach(path, first)
        path.open()
        path.stall()
        feeder = Feeder(path)
        feeder.start()
        while feeder.fed < 50:
            pass
        path.close(tail=True, at_once=True)
        fed_at_close = feeder.fed
        while feeder.fed < fed_at_close + 50:
            pass
        feeder.stop.set()
        feeder.join()
        path.detach(abandoned=True)
        second = RecordingSession()
        attach(path, second)
        live = [index_of(w) for w in second.writes if any(w)]
        assert live == list(range(len(live))) and live[-1] <= fed_at_close
        assert first.writes == []  # stalled from the start: written nothing


def test_late_marks_cover_what_waited_and_a_new_session_maps_its_offsets_to_the_right_audio():
    path = AudioPath(AudioGate(tail_ms=100))
    first, timeline = RecordingSession(), Timeline()
    stream = attach(path, first, timeline)
    path.open()
    for i in range(100):
        path.feed(chunk(i))
    path.acknowledged(stream, bytes_to_ticks(60 * CHUNK_BYTES))  # a final result up to chunk 60
    path.stall()
    for i in range(100, 200):
        path.feed(chunk(i))
    path.detach(abandoned=True)
    second, timeline2 = RecordingSession(), Timeline()
    stream2 = attach(path, second, timeline2)
    assert index_of(second.writes[0]) == 60  # from the oldest audio no session acknowledged
    at = bytes_to_ticks(40 * CHUNK_BYTES)  # chunk 100 in the new stream
    assert path.wall_span(timeline2, at, 0)[0] == chunk(100).captured_at  # true capture time
    assert path.is_late(stream2, at, bytes_to_ticks(CHUNK_BYTES))
    assert not path.is_late(stream, 0, bytes_to_ticks(50 * CHUNK_BYTES))
    for i in range(200, 210):
        path.feed(chunk(i))
    assert not path.is_late(stream2, bytes_to_ticks(145 * CHUNK_BYTES), bytes_to_ticks(CHUNK_BYTES))  # after the catch-up


def test_a_pause_holds_what_an_outage_kept_until_the_resume_and_lets_the_tail_flow_otherwise():
    path = AudioPath(AudioGate(tail_ms=100))
    session = RecordingSession()
    attach(path, session)
    path.open()
    for i in range(20):
        path.feed(chunk(i))
    path.close(tail=True)  # an ordinary pause: nothing waits, the paced tail goes out as it comes
    path.pause(True)
    for i in range(20, 60):
        path.feed(chunk(i))
    assert [index_of(w) for w in session.writes if any(w)] == list(range(20)) and len(session.writes) > 20
    written = len(session.writes)
    path.pause(False)
    path.open()
    path.stall()  # the service stops answering; what is said waits
    for i in range(60, 80):
        path.feed(chunk(i))
    path.close(tail=True)  # paused during the outage
    path.pause(True)
    for i in range(80, 120):
        path.feed(chunk(i))
    path.answered(session)  # the service is back during the pause: nothing leaves the room while paused
    assert len(session.writes) == written
    path.pause(False)  # resume: what was said before the pause goes first, then its tail
    path.open()
    path.feed(chunk(120))
    after = session.writes[written:]
    assert [index_of(w) for w in after if any(w)] == list(range(60, 80)) + [120]
