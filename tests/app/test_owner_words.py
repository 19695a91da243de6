"""The owner's phrase lists and utterance languages, on its protocols alone (fake sessions, a recording output).

The same behaviour with the real SDK, the emulator and a broker is in tests/app/test_daemon_words.py.
"""

from __future__ import annotations

from roomscribe.app.daemon import Daemon
from roomscribe.config import settings_from_data
from roomscribe.core.phrases import MAX_PHRASES
from roomscribe.core.table import State
from tests.support.fake_speech import FakeSessions
from tests.support.owner_rig import Cmd, HandSource, RecordingOutput, run_with, until


def settings(tmp_path, **speech):
    return settings_from_data({
        "room": "hall",
        "mqtt": {"outbox_path": str(tmp_path / "outbox.sqlite3")},
        "speech": {"host": "ws://127.0.0.1:9", "key": "k", **speech},
        "audio": {"source": "file", "file": str(tmp_path / "unused.wav")},
        "meeting": {"autostart": False},
    })


def events(output, kind: str) -> list:
    return [e for e in output.events if e.kind == kind]


def test_each_session_gets_the_rooms_and_the_meetings_phrases_before_it_starts(tmp_path):
    output, sessions, source = RecordingOutput(), FakeSessions(), HandSource()
    daemon = Daemon(settings(tmp_path, phrases=["Contoso", " Fabrikam "]), source=source, output=output,
                    session_factory=sessions)

    async def body() -> None:
        daemon.on_command(Cmd("start", "s1", ("Jessie Irwin", "contoso")))
        await until(lambda: daemon.machine.state is State.TRANSCRIBING)
        first = sessions.made[0]
        # Set before start(): the SDK sends it with the session's first speech.context.
        assert first.phrases == [("Contoso", "Fabrikam", "Jessie Irwin")]
        # A start for the running meeting replaces its list, on the session at once.
        daemon.on_command(Cmd("start", "s2", ("Rehaan",)))
        await until(lambda: len(first.phrases) == 2)
        assert first.phrases[-1] == ("Contoso", "Fabrikam", "Rehaan")
        # The room's list, replaced at run time: the meeting's stays.
        daemon.on_command(Cmd("phrases", "p1", ("Northwind",)))
        await until(lambda: len(first.phrases) == 3)
        assert first.phrases[-1] == ("Northwind", "Rehaan")
        daemon.on_command(Cmd("stop"))
        await until(lambda: daemon.machine.state is State.IDLE)
        daemon.on_command(Cmd("start", "s3"))  # a new meeting: the room's list only
        await until(lambda: len(sessions.made) == 2 and sessions.made[1].started.is_set())
        assert sessions.made[1].phrases == [("Northwind",)]

    run_with(daemon, source, body)
    changed = events(output, "phrases_changed")
    assert [e.request_id for e in changed] == ["s1", "s2", "p1"]
    assert changed[0].detail["applies"] == "next_session"  # no session yet when the start was taken
    assert changed[1].detail == {"meeting_id": changed[1].detail["meeting_id"], "room_phrases": ["Contoso", "Fabrikam"],
                                 "meeting_phrases": ["Rehaan"], "phrases": 3, "applies": "next_turn"}
    assert changed[2].detail["room_phrases"] == ["Northwind"] and changed[2].detail["meeting_phrases"] == ["Rehaan"]
    assert not events(output, "command_refused")


def test_phrases_beyond_azures_limit_are_refused_and_change_nothing(tmp_path):
    room = [f"room word {i}" for i in range(MAX_PHRASES - 1)]
    output, sessions, source = RecordingOutput(), FakeSessions(), HandSource()
    daemon = Daemon(settings(tmp_path, phrases=room), source=source, output=output, session_factory=sessions)

    async def body() -> None:
        daemon.on_command(Cmd("start", "too-many", ("one", "two")))  # 501 together: refused, no meeting
        await until(lambda: events(output, "command_refused"))
        assert daemon.machine.state is State.IDLE and not sessions.made
        daemon.on_command(Cmd("start", "fits", ("one",)))
        await until(lambda: daemon.machine.state is State.TRANSCRIBING)
        session = sessions.made[0]
        daemon.on_command(Cmd("phrases", "room-too-long", tuple(room) + ("a", "b")))  # with the meeting's: 502
        await until(lambda: len(events(output, "command_refused")) == 2)
        assert session.phrases == [tuple(room) + ("one",)]  # unchanged

    run_with(daemon, source, body)
    refused = events(output, "command_refused")
    assert [(e.request_id, e.detail["command"]) for e in refused] == [("too-many", "start"), ("room-too-long", "phrases")]
    assert all("at most 500" in e.detail["reason"] for e in refused)
    assert [e.request_id for e in events(output, "phrases_changed")] == ["fits"]


def test_an_utterance_carries_the_detected_language_or_the_one_configured(tmp_path):
    for speech, detected, expected in (({}, None, "en-US"), ({"languages": "de-DE"}, None, "de-DE"),
                                       ({"languages": ["en-US", "de-DE"]}, "de-DE", "de-DE"),
                                       ({"languages": ["en-US", "de-DE"]}, "und", "und")):
        output, sessions, source = RecordingOutput(), FakeSessions(), HandSource()
        daemon = Daemon(settings(tmp_path, **speech), source=source, output=output, session_factory=sessions)

        async def body() -> None:
            daemon.on_command(Cmd("start"))
            await until(lambda: daemon.machine.state is State.TRANSCRIBING)
            source.chunks(10)  # the timeline has times for the utterance's offsets
            sessions.made[0].transcribed("guten Tag", "Guest-1", 0, 1_000_000, detected)
            await until(lambda: output.utterances)

        run_with(daemon, source, body)
        assert output.utterances[0].language == expected, speech
