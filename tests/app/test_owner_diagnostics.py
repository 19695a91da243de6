"""The owner's diagnostics snapshot (app/diagnostics.py) on its protocols alone: a fake session, a recording
output, a source driven by hand; and each real output's own entry. What tests and benchmarks read instead of
private attributes must say what is so."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from roomscribe.app.daemon import TAIL_MARGIN_MS, Daemon
from roomscribe.app.diagnostics import Diagnostics
from roomscribe.audio.source import SourceStatus
from roomscribe.config import settings_from_data
from roomscribe.core.audio_format import CHUNK_BYTES, CHUNK_MS
from roomscribe.core.records import Utterance
from roomscribe.core.table import State
from roomscribe.outputs.fanout import FanOut
from roomscribe.outputs.journal.journal import Journal
from roomscribe.outputs.journal.output import JournalOutput
from roomscribe.outputs.mqtt.link import MqttLink
from roomscribe.outputs.web.auth import Tokens
from roomscribe.outputs.web.output import WebOutput
from tests.support.owner_rig import Cmd, HandSource, RecordingOutput, run_with, until
from tests.support.fake_speech import FakeSessions


def test_the_snapshot_follows_a_meeting_gate_tail_session_and_outputs(tmp_path):
    output, sessions, source = RecordingOutput(), FakeSessions(), HandSource()
    config = settings_from_data({"room": "hall", "meeting": {"autostart": False},
                                 "speech": {"host": "ws://127.0.0.1:9", "key": "k"},
                                 "audio": {"source": "file", "file": str(tmp_path / "unused.wav")}})
    daemon = Daemon(config, source=source, output=output, session_factory=sessions)
    seen: dict[str, Diagnostics] = {}

    async def meeting() -> None:
        stop = asyncio.Event()
        run = asyncio.create_task(daemon.run(stop))
        await until(lambda: hasattr(source, "on_status"))
        seen["idle"] = daemon.diagnostics()
        source.on_status(SourceStatus("opened", "hand"))
        source.on_status(SourceStatus("flowing", "hand"))
        daemon.on_command(Cmd("start"))
        await until(lambda: daemon.machine.state is State.TRANSCRIBING)
        source.chunks(10)
        sessions.made[0].transcribed("hello there", "Guest-1", 0, 1_000_000)
        await until(lambda: output.utterances)
        seen["transcribing"] = daemon.diagnostics()
        daemon.on_command(Cmd("pause"))
        await until(lambda: daemon.machine.state is State.PAUSED)
        seen["paused"] = daemon.diagnostics()
        source.chunks(3)  # three chunks dropped: three of the tail's silence written in their place
        seen["tail"] = daemon.diagnostics()
        stop.set()
        assert await run == 0
        seen["stopped"] = daemon.diagnostics()

    asyncio.run(meeting())
    idle, live, paused, tail, stopped = (seen[k] for k in ("idle", "transcribing", "paused", "tail", "stopped"))
    tail_chunks = -(-(500 + TAIL_MARGIN_MS) // CHUNK_MS)  # the default segmentation silence and the margin

    assert (idle.state, idle.meeting_id, idle.session, idle.gate.open) == ("idle", None, None, False)
    assert idle.audio.source is None and idle.utterances_published == 0
    assert idle.gate.tail_chunks == tail_chunks and not idle.gate.tail_pending
    assert idle.outage_buffer.session == "none" and idle.outage_buffer.kept_s == 0 and not idle.outage_buffer.outage
    assert idle.outage_buffer.capacity_s == 600.0  # speech.outage_buffer_minutes' default

    assert live.state == "transcribing" and live.meeting_id is not None and live.gate.open
    assert live.audio.source == SourceStatus("flowing", "hand") and live.audio.overflows == 0
    assert live.session is not None and (live.session.epoch, live.session.written_bytes) == (1, 10 * CHUNK_BYTES)
    assert live.gate.stats.live_bytes_written == 10 * CHUNK_BYTES and live.gate.stats.opens == 1
    assert live.audio.sent_bytes == 10 * CHUNK_BYTES and live.audio.sending
    assert live.utterances_published == 1
    buffer = live.outage_buffer  # the result acknowledged 0.1 s of the 0.1 s sent: nothing kept, nothing waits
    assert (buffer.session, buffer.kept_s, buffer.waiting_s, buffer.lost_s, buffer.outage) == ("confirmed", 0, 0, 0, False)
    assert live.outputs == output.diagnostics() and live.output("recording").figures == {"utterances": 1}

    assert paused.state == "paused" and not paused.gate.open and paused.gate.tail_pending
    assert paused.gate.stats.closes == 1 and paused.meeting_id == live.meeting_id
    assert tail.gate.stats.dropped_after_close == 3 * CHUNK_BYTES
    assert tail.gate.stats.silence_bytes_written == 3 * CHUNK_BYTES
    assert tail.session is not None and tail.session.written_bytes == 13 * CHUNK_BYTES

    assert (stopped.state, stopped.session, stopped.gate.tail_pending) == ("idle", None, False)
    with pytest.raises(KeyError):
        stopped.output("mqtt")
    with pytest.raises(dataclasses.FrozenInstanceError):
        stopped.state = "transcribing"  # type: ignore[misc]  (read-only: a snapshot, not a handle)


def test_the_snapshot_follows_the_outage_buffer_through_an_outage(tmp_path):
    """The service goes away: what is said waits (kept, waiting, an outage under way), the next session is written
    nothing until its service answers, the full buffer's oldest audio is lost and counted until its event names it,
    and once the service answers what waited goes out a window at a time."""
    output, sessions, source = RecordingOutput(), FakeSessions(), HandSource()
    config = settings_from_data({"room": "hall", "meeting": {"autostart": False},
                                 "speech": {"host": "ws://127.0.0.1:9", "key": "k", "outage_buffer_minutes": 1.5},
                                 "audio": {"source": "file", "file": str(tmp_path / "unused.wav")}})
    daemon = Daemon(config, source=source, output=output, session_factory=sessions)
    seen: dict[str, Diagnostics] = {}

    async def meeting() -> None:
        daemon.on_command(Cmd("start"))
        await until(lambda: daemon.diagnostics().state == "transcribing")
        first = sessions.made[0]
        source.chunks(100)  # 1 s
        first.transcribed("first words", "Guest-1", 0, 5_000_000)  # acknowledges the first 0.5 s
        await until(lambda: output.utterances)
        seen["answering"] = daemon.diagnostics()
        sessions.answers = False  # the service is away
        first.canceled("ConnectionFailure", "socket closed")
        await until(lambda: daemon.diagnostics().state == "recovering")
        source.chunks(9000)  # 90 s more: 90.5 s in a 90 s buffer
        seen["away"] = daemon.diagnostics()
        await until(lambda: len(sessions.made) == 2, timeout=10)  # the retry, connecting to nobody
        await until(lambda: [e for e in output.events if e.kind == "audio_lost"], timeout=10)
        seen["connecting"] = daemon.diagnostics()
        second = sessions.made[1]
        second.answers = True
        second.connection(True)
        await until(lambda: daemon.diagnostics().state == "transcribing")
        seen["back"] = daemon.diagnostics()

    run_with(daemon, source, meeting)
    answering, away, connecting, back = (seen[k].outage_buffer for k in ("answering", "away", "connecting", "back"))
    assert (answering.session, answering.kept_s, answering.waiting_s) == ("confirmed", 0.5, 0)
    assert not answering.outage and answering.lost_s == 0 and answering.capacity_s == 90.0
    assert (away.session, away.outage, away.kept_s, away.waiting_s) == ("none", True, 90.0, 90.0)
    assert away.lost_s == away.lost_unreported_s == pytest.approx(0.5)  # the oldest half second went
    assert away.kept_bytes >= 90 * 32_000 and away.peak_bytes >= away.kept_bytes
    assert seen["connecting"].session is not None and seen["connecting"].session.written_bytes == 0
    assert (connecting.session, connecting.waiting_s) == ("connecting", pytest.approx(90.0, abs=0.5))
    assert connecting.lost_s == pytest.approx(0.5) and connecting.lost_unreported_s == 0  # its event named it
    [lost] = [e for e in output.events if e.kind == "audio_lost" and e.detail["reason"] == "buffer_full"]
    assert lost.detail["seconds"] == pytest.approx(0.5)  # (what still waited at the stop is lost as meeting_ended)
    # Answered: a window's worth (30 s past what it acknowledged) went out at once, the rest follows at real-time
    # pace (a second or so by the time the snapshot is read, a few on a busy machine): not all 90 s.
    assert back.session == "confirmed" and back.outage and back.kept_s == pytest.approx(connecting.kept_s, abs=0.5)
    assert 29.0 <= back.kept_s - back.waiting_s <= 40.0


def test_each_output_says_of_itself_whether_it_works(tmp_path):
    config = settings_from_data({"room": "hall", "mqtt": {"host": "127.0.0.1", "port": 9},
                                 "journal": {"path": str(tmp_path / "journal.sqlite3")}})
    journal = Journal.from_settings(config)
    record = JournalOutput(journal, "hall")
    link = MqttLink(config, transcripts=journal.deliveries)
    web = WebOutput(room="hall", host="127.0.0.1", port=0, tokens=Tokens(None, None), history=None)
    fan = FanOut([record, web, link])

    before = fan.diagnostics()
    assert [d.name for d in before] == ["journal", "web", "mqtt"]
    assert not before[1].working and before[1].detail == "not listening yet"
    assert not before[2].working and before[2].figures == {"connected": False, "announced": False, "waiting": 0}

    record.start()
    try:
        commits_before = record.diagnostics()[0].figures["commits"]
        record.submit_transcript(Utterance(meeting_id="m-1", seq=1, speaker="Guest-1", speaker_epoch=1, text="hello",
                                           start=1.0, end=2.0, offset_ms=0, duration_ms=1000, language="en-US",
                                           room="hall"))
        record.flush()
        (entry,) = record.diagnostics()
        assert entry.working and entry.figures["keep_record"] is True
        assert entry.figures["commits"] > commits_before  # the utterance's commit
        assert entry.figures["waiting"] == 1  # stored, not yet delivered
        assert entry.figures["held"] == 0 and entry.figures["path"] == str(tmp_path / "journal.sqlite3")
        (link_entry,) = link.diagnostics()
        assert link_entry.figures["waiting"] == 1  # the link counts what waits for the broker in the journal
    finally:
        record.stop()
