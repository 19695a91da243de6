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
from tests.app.test_owner import Cmd, HandSource, RecordingOutput, until
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
    assert idle.outage_buffer is None  # its place, filled once the outage buffer is merged

    assert live.state == "transcribing" and live.meeting_id is not None and live.gate.open
    assert live.audio.source == SourceStatus("flowing", "hand") and live.audio.overflows == 0
    assert live.session is not None and (live.session.epoch, live.session.written_bytes) == (1, 10 * CHUNK_BYTES)
    assert live.gate.stats.live_bytes_written == 10 * CHUNK_BYTES and live.gate.stats.opens == 1
    assert live.audio.sent_bytes == 10 * CHUNK_BYTES and live.audio.sending
    assert live.utterances_published == 1
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
