"""Names for the voices, through the owner on its protocols (fake sessions, a recording output, a real journal
for past meetings): what is named, what the output is handed, what is refused and changes nothing.

The same end to end (the real daemon, the emulator, Mosquitto, a browser) is in tests/app/test_daemon_names.py.
"""

from __future__ import annotations


from roomscribe.app.daemon import Daemon
from roomscribe.core.names import SpeakerNaming
from roomscribe.core.table import State
from roomscribe.outputs.fanout import FanOut
from roomscribe.outputs.journal.journal import Journal
from roomscribe.outputs.journal.output import JournalOutput
from roomscribe.outputs.journal.reader import JournalReader
from tests.app.test_owner_words import events, settings
from tests.outputs.archive.meetings import record_meeting
from tests.support.fake_speech import FakeSessions
from tests.support.journal import JournalUnderTest
from tests.support.owner_rig import Cmd, HandSource, RecordingOutput, run_with, until

DONE = "3f2a9c1e-6b1d-4c7e-9a55-0d6f4b8e2a10"


def said(output: RecordingOutput) -> list[tuple[str, str | None]]:
    return [(u.speaker, u.speaker_name) for u in output.utterances]


def voices(output: RecordingOutput) -> tuple:
    return output.speakers[-1].speakers


def answer(output: RecordingOutput, request_id: str):
    found = [e for e in output.events if e.request_id == request_id and e.kind in ("speaker_named", "command_refused")]
    assert len(found) == 1, [e.kind for e in output.events]
    return found[0]


def test_naming_the_running_meetings_voices_names_what_is_published_after_it(tmp_path):
    output, sessions, source = RecordingOutput(), FakeSessions(), HandSource()
    daemon = Daemon(settings(tmp_path, reconnect_max_delay=1), source=source, output=output, session_factory=sessions)

    async def name(request_id: str, speaker: str, name: str | None, **where) -> object:
        daemon.on_command(SpeakerNaming(speaker, name, request_id=request_id, **where))
        await until(lambda: any(e.request_id == request_id for e in output.events))
        return answer(output, request_id)

    async def say(speaker: str, text: str) -> None:
        count = len(output.utterances)
        source.chunks(2)  # a stream offset to map the result's to
        sessions.made[-1].transcribed(text, speaker, 0, 1_000_000)
        await until(lambda: len(output.utterances) > count)

    async def body() -> None:
        assert output.speakers[-1].meeting_id is None  # at start: a map left retained by an earlier run is stale
        refused = await name("n0", "Guest-1", "Alice")
        assert "no meeting is running" in refused.detail["reason"]
        daemon.on_command(Cmd("start", "s1"))
        await until(lambda: daemon.machine.state is State.TRANSCRIBING)
        meeting = daemon.machine.meeting_id
        assert (output.speakers[-1].meeting_id, output.speakers[-1].speaker_epoch, voices(output)) == (meeting, 1, ())
        await say("Guest-1", "Good morning.")
        await say("Guest-2", "Morning.")
        assert voices(output) == ((1, "Guest-1", None), (1, "Guest-2", None))  # each voice as it is first heard

        named = await name("n1", "Guest-1", "Alice")
        assert named.kind == "speaker_named" and named.detail == {
            "meeting_id": meeting, "speaker_epoch": 1, "speaker": "Guest-1", "name": "Alice", "previous": None,
            "running": True}
        assert voices(output) == ((1, "Guest-1", "Alice"), (1, "Guest-2", None))
        await say("Guest-1", "The numbers.")
        await say("Guest-2", "Fine.")
        sessions.made[-1].transcribing("and then", "Guest-1", 0)
        await until(lambda: output.partials)
        assert output.partials[-1].speaker_name == "Alice"
        renamed = await name("n2", "Guest-1", "Alicia", meeting_id="current", speaker_epoch=1)
        assert (renamed.detail["name"], renamed.detail["previous"]) == ("Alicia", "Alice")
        await name("n3", "Guest-2", "Bob", meeting_id=meeting)  # its own id is the running meeting too
        await say("Guest-2", "Next.")

        # Bad input changes nothing: no map, no name.
        maps = len(output.speakers)
        for request_id, speaker, where in (("b1", "Guest-9", {}), ("b2", "Guest-1", {"speaker_epoch": 2})):
            refused = await name(request_id, speaker, "Mallory", **where)
            assert refused.kind == "command_refused" and "unknown speaker" in refused.detail["reason"]
            assert refused.detail["command"] == "name"
        assert len(output.speakers) == maps and voices(output)[0] == (1, "Guest-1", "Alicia")
        refused = await name("b3", "Guest-1", "Mallory", meeting_id="last-week")
        assert "keeps no record of past meetings" in refused.detail["reason"]

        # A new cloud session restarts the labels: its Guest-1 is someone new, without a name.
        sessions.made[-1].canceled("ConnectionFailure", "emulated")
        await until(lambda: len(sessions.made) == 2 and daemon.machine.state is State.TRANSCRIBING, timeout=10)
        assert output.speakers[-1].speaker_epoch == 2
        await say("Guest-1", "Someone new.")
        assert voices(output)[-1] == (2, "Guest-1", None)
        unknown = await name("b4", "Guest-2", "Bob")  # epoch 2 has no Guest-2 yet
        assert "it did in epoch 1: give speaker_epoch" in unknown.detail["reason"]
        await name("n4", "Guest-2", None, speaker_epoch=1)  # epoch 1's, named earlier: the name taken away
        await name("n5", "Guest-1", "Carol")
        await say("Guest-1", "Carol here.")

        daemon.on_command(Cmd("stop", "s2"))
        await until(lambda: daemon.machine.state is State.IDLE, timeout=10)
        assert output.speakers[-1].meeting_id is None and voices(output) == ()

    run_with(daemon, source, body)
    assert said(output) == [("Guest-1", None), ("Guest-2", None), ("Guest-1", "Alice"), ("Guest-2", None),
                            ("Guest-2", "Bob"), ("Guest-1", None), ("Guest-1", "Carol")]
    assert [e.detail["name"] for e in events(output, "speaker_named")] == ["Alice", "Alicia", "Bob", None, "Carol"]
    assert all(m.running for m in output.speakers)


def test_a_past_meetings_voices_are_named_in_the_journal_and_the_running_one_by_the_owner(tmp_path):
    path = tmp_path / "journal.sqlite3"
    with JournalUnderTest(path) as store:
        record_meeting(store, DONE, n=12)  # Guest-1 and Guest-2, a new speaker epoch from the 9th line
    journal = Journal(path, room="hall")
    record = JournalOutput(journal, "hall")
    output, sessions, source = RecordingOutput(), FakeSessions(), HandSource()
    daemon = Daemon(settings(tmp_path), source=source, output=FanOut([record, output]), session_factory=sessions,
                    record=record)

    async def name(request_id: str, speaker: str, name: str | None, **where):
        daemon.on_command(SpeakerNaming(speaker, name, request_id=request_id, **where))
        await until(lambda: any(e.request_id == request_id for e in output.events))
        return answer(output, request_id)

    async def body() -> None:
        named = await name("p1", "Guest-1", "Alice", meeting_id=DONE[:8])
        assert named.kind == "speaker_named" and named.detail == {
            "meeting_id": DONE, "speaker_epoch": 2, "speaker": "Guest-1", "name": "Alice", "previous": None,
            "running": False}  # the speaker epoch of a past meeting: its last one
        past = output.speakers[-1]
        assert (past.meeting_id, past.running) == (DONE, False)
        assert ((2, "Guest-1", "Alice") in past.speakers and (1, "Guest-1", None) in past.speakers)
        await name("p2", "Guest-2", "Bob", meeting_id="last", speaker_epoch=1)
        for request_id, speaker, where, why in (
                ("q1", "Guest-3", {"meeting_id": DONE}, "unknown speaker: Guest-3 has not spoken"),
                ("q2", "Guest-1", {"meeting_id": DONE, "speaker_epoch": 3}, "it did in epoch 1, 2"),
                ("q3", "Guest-1", {"meeting_id": "77aa0000"}, "unknown meeting"),
                ("q4", "Guest-1", {"meeting_id": "ab"}, "unknown meeting")):
            refused = await name(request_id, speaker, "Mallory", **where)
            assert refused.kind == "command_refused" and why in refused.detail["reason"], refused.detail

        daemon.on_command(Cmd("start", "s1"))
        await until(lambda: daemon.machine.state is State.TRANSCRIBING)
        running = daemon.machine.meeting_id
        source.chunks(2)
        sessions.made[-1].transcribed("Hello.", "Guest-1", 0, 1_000_000)
        await until(lambda: output.utterances)
        # A prefix of the running meeting's id: the journal finds it is the running one, and the owner names it.
        named = await name("r1", "Guest-1", "Dana", meeting_id=running[:8])
        assert named.detail["running"] is True and named.detail["meeting_id"] == running
        assert output.speakers[-1].running and (1, "Guest-1", "Dana") in output.speakers[-1].speakers
        daemon.on_command(Cmd("stop", "s2"))
        await until(lambda: daemon.machine.state is State.IDLE, timeout=10)
        assert journal.flush()

    run_with(daemon, source, body)
    with JournalReader(path) as reader:
        done = reader.record(DONE)
        names = {(u.speaker_epoch, u.speaker): u.speaker_name for u in done.utterances}
        assert names == {(1, "Guest-1"): None, (1, "Guest-2"): "Bob", (2, "Guest-1"): "Alice", (2, "Guest-2"): None}
        assert done.meeting.names == ((1, "Guest-2", "Bob"), (2, "Guest-1", "Alice"))
        [live] = [m for m in reader.meetings() if m.id != DONE]
        assert live.names == ((1, "Guest-1", "Dana"),)  # the owner's map, kept by the journal's output
