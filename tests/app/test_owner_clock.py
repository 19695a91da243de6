"""The owner and a wall clock that steps (app/clockwatch.py, core/clock.py), on its protocols alone: a clock
the test steps, a synchronisation check the test answers, a fake speech session, a recording output."""

from __future__ import annotations

import asyncio
import time

import pytest

from roomscribe.app.daemon import Daemon
from roomscribe.core.audio_format import CHUNK_BYTES, CHUNK_MS, AudioChunk, bytes_to_ticks
from roomscribe.core.table import State
from roomscribe.system.timesync import ClockSync
from tests.support.owner_rig import Cmd, HandSource, RecordingOutput, run_with, settings, until
from tests.support.clocks import SteppedClock
from tests.support.fake_speech import FakeSessions

DAY = 86400.0
CHUNK_S = CHUNK_MS / 1000
CHUNK_TICKS = bytes_to_ticks(CHUNK_BYTES)


class StampedSource(HandSource):
    """Chunks stamped as the real sources do: monotonic capture time, and the wall clock's time then."""

    def __init__(self, clock: SteppedClock):
        self.clock = clock
        self.captured: list[AudioChunk] = []

    def chunks(self, n: int) -> None:
        """n chunks back to back, as if captured over the last n * 10 ms."""
        first = time.monotonic() - n * CHUNK_S
        for i in range(n):
            mono = first + i * CHUNK_S
            chunk = AudioChunk(b"\x01\x00" * (CHUNK_BYTES // 2), mono + (self.clock.wall() - time.monotonic()), mono)
            self.captured.append(chunk)
            self.on_chunk(chunk)


class Sync:
    def __init__(self, synchronized: bool):
        self.synchronized = synchronized

    def __call__(self) -> ClockSync:
        return ClockSync(self.synchronized, "the test says so")


def clock_steps(output: RecordingOutput) -> list[dict]:
    return [e.detail for e in output.events if e.kind == "clock_stepped"]


def test_steps_in_a_meeting_and_a_pause_are_announced_and_durations_stay_monotonic(tmp_path):
    clock, sync = SteppedClock(offset=-3 * DAY), Sync(False)
    output, sessions, source = RecordingOutput(), FakeSessions(), StampedSource(clock)
    daemon = Daemon(settings(tmp_path), source=source, output=output, session_factory=sessions, clock=clock,
                    clock_sync=sync)

    async def meeting() -> tuple[float, ...]:
        began = time.monotonic()
        daemon.on_command(Cmd("start"))
        await until(lambda: daemon.machine.state is State.TRANSCRIBING)
        session = sessions.made[0]
        source.chunks(100)  # 1 s of audio, captured three days back
        session.transcribed("before the step", "Guest-1", 0, 50 * CHUNK_TICKS)
        await until(lambda: len(output.utterances) == 1)
        since = daemon.machine.since

        clock.step(2 * DAY)  # NTP, during the meeting: the next tick announces it
        daemon.clock_watch.tick()
        [step] = clock_steps(output)
        assert step["meeting_id"] == daemon.machine.meeting_id and step["step_s"] == pytest.approx(2 * DAY, abs=0.01)
        assert step["at"] == pytest.approx(clock.wall(), abs=0.5)
        assert daemon.machine.since == pytest.approx(since + 2 * DAY, abs=0.01)  # the state's since moved with it
        assert output.states[-1].since == daemon.machine.since
        # Audio captured before the step, published after it: on the new clock, as long as the service heard.
        session.transcribed("captured before, published after", "Guest-2", 50 * CHUNK_TICKS, 50 * CHUNK_TICKS)
        await until(lambda: len(output.utterances) == 2)

        daemon.on_command(Cmd("pause"))
        await until(lambda: daemon.machine.state is State.PAUSED)
        paused = time.monotonic()
        await asyncio.sleep(0.3)
        clock.step(DAY)
        sync.synchronized = True
        daemon.clock_watch.tick()
        assert len(clock_steps(output)) == 2 and output.states[-1].clock_synchronized
        await asyncio.sleep(0.2)
        daemon.on_command(Cmd("resume"))
        await until(lambda: daemon.machine.state is State.TRANSCRIBING)
        resumed = time.monotonic()
        source.chunks(50)
        session.transcribed("after the steps", "Guest-1", 100 * CHUNK_TICKS + 10 * CHUNK_TICKS, 40 * CHUNK_TICKS)
        await until(lambda: len(output.utterances) == 3)
        daemon.on_command(Cmd("stop"))
        await until(lambda: daemon.machine.state is State.IDLE)
        ended = time.monotonic()
        return began, paused, resumed, ended

    began, paused, resumed, ended = run_with(daemon, source, meeting)
    first, second, third = output.utterances
    captured = source.captured
    assert first.start == pytest.approx(captured[0].captured_at, abs=0.002)  # on the clock of its time
    assert first.end - first.start == pytest.approx(0.5, abs=0.002)
    assert second.start == pytest.approx(captured[50].captured_at + 2 * DAY, abs=0.002)
    assert second.end - second.start == pytest.approx(0.5, abs=0.002)  # never 48 hours long
    assert third.start == pytest.approx(captured[110].captured_at, abs=0.002)  # captured on the final clock
    assert [u.clock_synchronized for u in output.utterances] == [False, False, True]
    assert [s.clock_synchronized for s in output.states][0] is False and output.states[-1].clock_synchronized
    [ended_event] = [e.detail for e in output.events if e.kind == "meeting_ended"]
    assert ended_event["duration_s"] == pytest.approx(ended - began, abs=0.15)
    assert ended_event["paused_s"] == pytest.approx(resumed - paused, abs=0.15)
    assert ended_event["paused_s"] >= 0.5


def test_what_is_stamped_before_a_step_is_announced_stays_on_the_old_clock(tmp_path):
    """Until the watch ticks, the owner stamps on the old offset; the event then marks the change, so an
    output that moves what it holds by step_s when the event comes moves exactly what came before it."""
    clock = SteppedClock()
    output, sessions, source = RecordingOutput(), FakeSessions(), StampedSource(clock)
    daemon = Daemon(settings(tmp_path), source=source, output=output, session_factory=sessions, clock=clock,
                    clock_sync=Sync(True))

    async def meeting() -> None:
        daemon.on_command(Cmd("start"))
        await until(lambda: daemon.machine.state is State.TRANSCRIBING)
        source.chunks(20)
        clock.step(-DAY)  # stepped back; the watch has not ticked yet
        sessions.made[0].transcribed("stamped before the announcement", "Guest-1", 0, 10 * CHUNK_TICKS)
        await until(lambda: output.utterances)
        daemon.clock_watch.tick()

    run_with(daemon, source, meeting)
    [utterance] = output.utterances
    assert utterance.start == pytest.approx(source.captured[0].captured_at, abs=0.002)  # the old clock
    [step] = clock_steps(output)
    assert step["step_s"] == pytest.approx(-DAY, abs=0.01)


def test_the_state_says_whether_the_clock_is_synchronised_and_follows_it(tmp_path):
    sync, output, source = Sync(False), RecordingOutput(), HandSource()
    daemon = Daemon(settings(tmp_path), source=source, output=output, session_factory=FakeSessions(),
                    clock_sync=sync)

    async def run() -> None:
        assert output.states[0].clock_synchronized is False
        sync.synchronized = True
        await until(lambda: output.states[-1].clock_synchronized, timeout=5)  # the watch's own tick, once a second
        count = len(output.states)
        daemon.clock_watch.tick()
        assert len(output.states) == count  # no change, no new state

    run_with(daemon, source, run)
    assert output.states[-1].to_payload()["clock_synchronized"] is True


class SequentialSource(HandSource):
    """Chunks captured one after another on the monotonic clock (from 200 s ago on), each stamped with the wall
    clock's time of its capture as the source knows it when it delivers (as CaptureClock does)."""

    def __init__(self, clock: SteppedClock):
        self.clock = clock
        self.captured: list[AudioChunk] = []
        self._next = time.monotonic() - 200.0

    def chunks(self, n: int) -> None:
        offset = self.clock.wall() - time.monotonic()
        for _ in range(n):
            chunk = AudioChunk(b"\x01\x00" * (CHUNK_BYTES // 2), self._next + offset, self._next)
            self._next += CHUNK_S
            self.captured.append(chunk)
            self.on_chunk(chunk)


def test_an_outage_across_a_clock_step_keeps_the_true_capture_times_of_late_and_lost_audio(tmp_path):
    """The service is away while the wall clock steps (NTP after boot) and the outage buffer overflows: the lost
    span and the late utterances are timed from their monotonic capture times on the clock of their publication,
    so audio captured before the step is on the new clock like everything published after it."""
    from roomscribe.config import settings_from_data

    clock = SteppedClock(offset=-3 * DAY)
    output, sessions, source = RecordingOutput(), FakeSessions(), SequentialSource(clock)
    config = settings_from_data({
        "room": "hall", "audio": {"source": "file", "file": str(tmp_path / "unused.wav")},
        "speech": {"host": "ws://127.0.0.1:9", "key": "k", "outage_buffer_minutes": 1.5},  # 90 s
    })
    daemon = Daemon(config, source=source, output=output, session_factory=sessions, clock=clock,
                    clock_sync=Sync(True))
    lost_events = lambda: [e.detail for e in output.events if e.kind == "audio_lost"]  # noqa: E731

    async def meeting() -> None:
        daemon.on_command(Cmd("start"))
        await until(lambda: daemon.machine.state is State.TRANSCRIBING)
        first = sessions.made[0]
        source.chunks(100)  # chunks 0-99
        first.transcribed("before the outage", "Guest-1", 0, 100 * CHUNK_TICKS)  # acknowledges them
        await until(lambda: len(output.utterances) == 1)
        sessions.answers = False  # the service is away
        first.canceled("ConnectionFailure", "socket closed")
        await until(lambda: daemon.machine.state is State.RECOVERING)
        source.chunks(5000)  # chunks 100-5099: 50 s kept, captured on the old clock
        clock.step(2 * DAY)
        daemon.clock_watch.tick()
        assert len(clock_steps(output)) == 1
        source.chunks(5000)  # chunks 5100-10099: 100 s kept in a 90 s buffer, the oldest 10 s go
        await until(lambda: lost_events(), timeout=10)  # reported once the loss stopped growing
        await until(lambda: len(sessions.made) >= 2, timeout=10)  # the retry, connecting to nobody
        back = sessions.made[-1]
        assert back.written_bytes == 0
        back.answers = True
        back.connection(True)  # the service is back: what waited goes out, from chunk 1100
        await until(lambda: daemon.machine.state is State.TRANSCRIBING)
        back.transcribed("said before the step", "Guest-1", 0, 100 * CHUNK_TICKS)  # chunks 1100-1199
        back.no_match(100 * CHUNK_TICKS, 2900 * CHUNK_TICKS)  # the service settles 29 s more: more is sent
        await until(lambda: back.written_bytes >= 4100 * CHUNK_BYTES)
        back.transcribed("said after the step", "Guest-2", 4000 * CHUNK_TICKS, 100 * CHUNK_TICKS)  # chunks 5100-5199
        await until(lambda: len(output.utterances) == 3)

    run_with(daemon, source, meeting)
    captured = source.captured
    [lost] = [e for e in lost_events() if e["reason"] == "buffer_full"]
    assert lost["seconds"] == pytest.approx(10.0, abs=0.01)
    # Captured on the old clock, reported after the step: on the new clock, as the journal has moved the rest.
    assert lost["start"] == pytest.approx(captured[100].captured_at + 2 * DAY, abs=0.01)
    assert lost["end"] == pytest.approx(captured[1099].captured_at + CHUNK_S + 2 * DAY, abs=0.01)
    before, before_step, after_step = output.utterances
    assert not before.late and before_step.late and after_step.late
    assert before_step.start == pytest.approx(captured[1100].captured_at + 2 * DAY, abs=0.002)
    assert before_step.end - before_step.start == pytest.approx(1.0, abs=0.002)
    assert after_step.start == pytest.approx(captured[5100].captured_at, abs=0.002)  # stamped on the new clock
    assert before_step.late_by_s > 0 and after_step.late_by_s > 0



def test_a_repeat_is_found_by_where_its_audio_lies_not_by_the_clock_that_stepped_back_meanwhile(tmp_path):
    """A session released in a pause answers the rest of its audio while the next one is sent it again: the
    next one's repeat is dropped. Repeats are found by where their audio lies in what was captured, not by
    wall-clock times: after a step back by a day, the new session's next words start "earlier" on the wall
    clock than the last ones published ended, and are new all the same."""
    import threading

    from roomscribe.config import settings_from_data

    clock = SteppedClock()
    output, sessions, source = RecordingOutput(), FakeSessions(), SequentialSource(clock)
    config = settings_from_data({
        "room": "hall", "audio": {"source": "file", "file": str(tmp_path / "unused.wav")},
        "speech": {"host": "ws://127.0.0.1:9", "key": "k", "release_after_minutes": 0.005},  # 0.3 s
    })
    daemon = Daemon(config, source=source, output=output, session_factory=sessions, clock=clock,
                    clock_sync=Sync(True))

    async def meeting() -> None:
        daemon.on_command(Cmd("start"))
        await until(lambda: daemon.machine.state is State.TRANSCRIBING)
        first = sessions.made[0]
        source.chunks(200)  # chunks 0-199
        first.transcribed("first words", "Guest-1", 0, 100 * CHUNK_TICKS)
        await until(lambda: len(output.utterances) == 1)
        first.answers, first.finish_gate = False, threading.Event()
        daemon.on_command(Cmd("pause"))
        await until(lambda: first.finished is True)  # released, still answering the rest
        daemon.on_command(Cmd("resume"))
        await until(lambda: len(sessions.made) == 2 and daemon.machine.state is State.TRANSCRIBING)
        second = sessions.made[1]
        await until(lambda: second.written_bytes >= 100 * CHUNK_BYTES)  # chunks 100-199 again, and the tail
        first.transcribed("words before the pause", "Guest-1", 100 * CHUNK_TICKS, 100 * CHUNK_TICKS)
        await until(lambda: len(output.utterances) == 2)
        clock.step(-DAY)
        daemon.clock_watch.tick()
        second.transcribed("words before the pause", "Guest-1", 0, 100 * CHUNK_TICKS)  # a repeat
        first.finish_gate.set()
        sent = second.written_bytes
        source.chunks(100)  # chunks 200-299, after the resume
        second.transcribed("words after the resume", "Guest-1", bytes_to_ticks(sent), 100 * CHUNK_TICKS)
        await until(lambda: len(output.utterances) == 3)

    run_with(daemon, source, meeting)
    texts = [u.text for u in output.utterances]
    assert texts == ["first words", "words before the pause", "words after the resume"]
    before, after = output.utterances[1:]
    assert after.start == pytest.approx(source.captured[200].captured_at, abs=0.002)  # captured on the new clock
    assert after.start < before.end  # earlier on the wall clock than the last one, and published all the same
    assert [u.speaker_epoch for u in output.utterances] == [1, 1, 2]
