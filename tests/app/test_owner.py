"""The owner (app/daemon.py) on its protocols alone: a fake speech session, a recording output, a
source driven by hand. No SDK, no broker, no emulator: the end-to-end tests cover those."""

from __future__ import annotations

import asyncio

import pytest

from roomscribe.app.daemon import Daemon
from roomscribe.audio.source import SourceStatus
from roomscribe.core.audio_format import CHUNK_BYTES
from roomscribe.core.effects import Effect
from roomscribe.core.table import State
from tests.support.fake_speech import FakeSessions
from tests.support.owner_rig import Cmd, HandSource, RecordingOutput, run_with, settings, until


def test_a_meeting_through_the_owner_with_a_fake_session(tmp_path):
    output, sessions, source = RecordingOutput(), FakeSessions(), HandSource()
    daemon = Daemon(settings(tmp_path), source=source, output=output, session_factory=sessions)

    async def meeting() -> None:
        daemon.on_command(Cmd("start", "r1"))
        await until(lambda: daemon.machine.state is State.TRANSCRIBING)
        session = sessions.made[0]
        assert session.started.is_set() and session.epoch == 1
        source.chunks(10)
        assert session.written_bytes == 10 * CHUNK_BYTES  # the gate is open: every chunk went out
        session.connection(True)
        session.transcribing("hello", "Unknown", 0)
        session.transcribed("hello there", "Guest-1", 0, 1_000_000)
        await until(lambda: output.utterances)
        daemon.on_command(Cmd("pause", "r2"))
        await until(lambda: daemon.machine.state is State.PAUSED)
        before = session.written_bytes
        source.chunks(5)
        assert session.written[before:].count(1) == 0  # only the tail's silence, never a captured byte

    run_with(daemon, source, meeting)
    utterance = output.utterances[0]
    assert (utterance.text, utterance.speaker, utterance.seq, utterance.speaker_epoch) == ("hello there", "Guest-1", 1, 1)
    assert output.partials[0].speaker is None  # "Unknown" becomes null
    assert output.speech[:2] == ["disconnected", "connected"]  # nothing answers at start-up; then the service
    assert [s.state for s in output.states][-1] == "idle"
    assert sessions.made[0].finished is not None
    kinds = [e.kind for e in output.events]
    assert "meeting_started" in kinds and "meeting_ended" in kinds


def test_every_effect_type_has_a_handler(tmp_path):
    daemon = Daemon(settings(tmp_path), source=HandSource(), output=RecordingOutput(), session_factory=FakeSessions())
    assert daemon.effect_types == set(Effect.__args__)


class Notes:
    """system.notifier.ServiceNotifier, keeping the STATUS= lines."""

    def __init__(self) -> None:
        self.statuses: list[str] = []

    def ready(self) -> None: ...
    def stopping(self) -> None: ...
    def watchdog(self) -> None: ...
    def watchdog_interval(self): return None
    def status(self, text: str) -> None: self.statuses.append(text)


def test_the_journal_s_storage_reports_reach_the_state_the_events_and_status_from_any_thread(tmp_path):
    """A full disk: the owner publishes the journal's event, says it in the state (Home Assistant's Storage
    sensor) and in STATUS=, and takes it back when storing works again. Reported from another thread."""
    import threading

    from roomscribe.core.records import Event
    from roomscribe.outputs.base import StorageReport

    output, notes, source = RecordingOutput(), Notes(), HandSource()
    daemon = Daemon(settings(tmp_path), source=source, output=output, session_factory=FakeSessions(), notifier=notes)
    failed = Event("storage_failed", {"error": "database or disk is full (SQLITE_FULL)"}, 1.0, "hall", level="error")
    recovered = Event("storage_recovered", {"failed_for_s": 3.0}, 4.0, "hall")

    def from_the_writer(report) -> None:
        thread = threading.Thread(target=daemon.storage_report, args=(report,), name="journal-writer")
        thread.start()
        thread.join()

    async def run() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(daemon.run(stop))
        await until(lambda: hasattr(source, "on_status"))
        source.on_status(SourceStatus("opened", "hand"))
        # Settled first: its session answered (no audio delivered yet) and the source's report was taken, so
        # no state change of the meeting's own falls between the journal's reports.
        await until(lambda: daemon.diagnostics().state == "no_audio" and daemon.diagnostics().audio.source is not None)
        from_the_writer(StorageReport(False, "database or disk is full (SQLITE_FULL)", failed))
        await until(lambda: output.states[-1].storage == "failing")
        from_the_writer(StorageReport(False, "database or disk is full (SQLITE_FULL)", None))  # nothing new
        from_the_writer(StorageReport(True, "", recovered))
        await until(lambda: output.states[-1].storage == "ok")
        stop.set()
        await task

    asyncio.run(run())
    assert [e.kind for e in output.events if e.kind.startswith("storage")] == ["storage_failed", "storage_recovered"]
    failing = [s for s in output.states if s.storage == "failing"]
    assert len(failing) == 1 and failing[0].to_payload()["storage"] == {
        "status": "failing", "detail": "database or disk is full (SQLITE_FULL)"}
    assert any(line.endswith("; storage failing: database or disk is full (SQLITE_FULL)") for line in notes.statuses)
    assert not notes.statuses[-1].count("storage")  # said no more once it stores again


def test_a_lost_session_s_audio_goes_to_the_next_once_late_and_its_late_results_are_dropped(tmp_path):
    """What the first session was sent but never acknowledged, and what was said while none answered, is
    sent to the next session; a result the first one delivers after it was given up is not published."""
    output, sessions, source = RecordingOutput(), FakeSessions(), HandSource()
    daemon = Daemon(settings(tmp_path), source=source, output=output, session_factory=sessions)
    second_answers = asyncio.Event()

    async def meeting() -> None:
        daemon.on_command(Cmd("start"))
        await until(lambda: daemon.machine.state is State.TRANSCRIBING)
        first = sessions.made[0]
        source.chunks(100)  # 1 s
        first.transcribed("first words", "Guest-1", 0, 5_000_000)  # acknowledges the first 0.5 s
        await until(lambda: len(output.utterances) == 1)
        sessions.answers = False  # the service is away: the next sessions connect to nobody
        first.canceled("ConnectionFailure", "socket closed")
        await until(lambda: daemon.machine.state is State.RECOVERING)
        assert output.speech[-1] == "disconnected" and output.states[-1].reason == "lost"
        source.chunks(200)  # 2 s said while no session answers
        first.transcribed("late words of a session given up", "Guest-1", 5_000_000, 2_000_000)
        await until(lambda: len(sessions.made) == 2, timeout=10)  # the retry after the backoff
        second = sessions.made[1]
        assert second.written_bytes == 0  # not answered: written nothing
        buffer = daemon.diagnostics().outage_buffer
        assert (buffer.session, buffer.outage, buffer.lost_s) == ("connecting", True, 0)
        assert buffer.waiting_s == buffer.kept_s == pytest.approx(2.5)  # 0.5 s unacknowledged, 2 s said meanwhile
        assert daemon.machine.state is State.STARTING
        second.answers = True
        second.connection(True)  # the service is back and takes the connection
        await until(lambda: daemon.machine.state is State.TRANSCRIBING)
        # Everything no session acknowledged, from 0.5 s: 0.5 s + 2 s, and what came since.
        assert second.written_bytes == 250 * CHUNK_BYTES
        second.transcribed("words said while it was away", "Guest-1", 0, 20_000_000)
        source.chunks(10)
        second.transcribed("words said after", "Guest-1", 25_000_000, 500_000)
        await until(lambda: len(output.utterances) == 3)
        await until(lambda: "speech_caught_up" in [e.kind for e in output.events])
        second_answers.set()

    run_with(daemon, source, meeting)
    assert second_answers.is_set()
    texts = [u.text for u in output.utterances]
    assert texts == ["first words", "words said while it was away", "words said after"]
    assert [u.late for u in output.utterances] == [False, True, False]
    assert output.utterances[1].late_by_s is not None and output.utterances[2].late_by_s is None
    assert [u.speaker_epoch for u in output.utterances] == [1, 2, 2]
    kinds = [e.kind for e in output.events]
    assert kinds.count("session_reestablished") == 1 and "speech_caught_up" in kinds
    assert "audio_lost" not in kinds
