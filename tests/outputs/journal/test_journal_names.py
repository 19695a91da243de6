"""The names given to voices in the journal (schema 2): the upgrade of a journal written by the previous
schema, what readers show (the names of now, never the stored payloads changed), naming a past meeting on
the writer's thread, forgetting, salvaging, and the lock that tells `roomscribe name` whether a daemon
holds the journal."""

from __future__ import annotations

import json
import shutil
import sqlite3
import time
from pathlib import Path

import pytest

from roomscribe.core.names import IsRunning, Named, NamingRefused, SpeakerNaming
from roomscribe.core.records import SpeakerMap
from roomscribe.outputs.journal import forget, lock, names, queries
from roomscribe.outputs.journal.file import Policy
from roomscribe.outputs.journal.journal import Journal
from roomscribe.outputs.journal.output import JournalOutput
from roomscribe.outputs.journal.reader import JournalReader
from roomscribe.outputs.journal.recover import salvage_journal
from roomscribe.outputs.journal.schema import SCHEMA_VERSION, open_for_writing
from tests.outputs.archive.meetings import ROOM, T0, record_meeting, utterance
from tests.support.journal import JournalUnderTest, waiting_on_disk

V1 = Path(__file__).parent / "data" / "journal-v1"
EXPECTED = json.loads((V1 / "expected.json").read_text())
DONE = "3f2a9c1e-6b1d-4c7e-9a55-0d6f4b8e2a10"
# Transcript fields newer than that journal (the outage buffer's late mark): what a reader gives for them.
NEWER_FIELDS = {"late": False, "late_by_s": None}


def v1_copy(where: Path) -> Path:
    """The journal c644321 wrote and left by SIGKILL (data/make_v1_journal.py), its WAL beside it."""
    shutil.copytree(V1, where, ignore=shutil.ignore_patterns("*.json"))
    return where / "journal.sqlite3"


def version(path: Path) -> int:
    with sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True) as db:
        return db.execute("PRAGMA user_version").fetchone()[0]


def name(db, speaker: str, new: str | None, running: str | None = None, **where):
    return names.name_in_record(db, SpeakerNaming(speaker, new, **where), running, T0 + 9999)


@pytest.fixture
def journal(tmp_path):
    with JournalUnderTest(tmp_path / "journal.sqlite3") as store:
        record_meeting(store, DONE, n=12)  # Guest-1 and Guest-2; speaker epoch 2 from the 9th line
        yield store


# -- the upgrade --------------------------------------------------------------------------------------------


def test_a_journal_of_schema_1_is_read_as_it_is_and_upgraded_whole_by_the_writer(tmp_path):
    path = v1_copy(tmp_path / "v1")
    assert version(path) == 1 and SCHEMA_VERSION == 2
    # A reader (the command line, before the daemon started) reads it as it is: no names, nothing changed
    # (and nothing late: a roomscribe of that schema had no outage buffer).
    with JournalReader(path) as reader:
        assert {m.id for m in reader.meetings()} == set(EXPECTED["meetings"])
        assert all(m.names == () for m in reader.meetings())
        assert [u.to_payload() for u in reader.record("m-ended").utterances] == [
            {**p, "speaker_name": None, **NEWER_FIELDS} for p in EXPECTED["meetings"]["m-ended"]]
        assert reader.payloads("m-ended")[0][1] == json.dumps(
            EXPECTED["meetings"]["m-ended"][0], ensure_ascii=False, separators=(",", ":")).encode()
    assert version(path) == 1
    journal = Journal(path, room=ROOM).start()
    try:
        assert journal.flush() and journal.health.ok
        assert version(path) == 2
        # Everything the killed daemon had committed is there, and what waited for the broker still waits.
        assert waiting_on_disk(path) == [tuple(w) for w in EXPECTED["waiting"]]
        result = journal.writer.submit(lambda db: name(db, "Guest-1", "Alice", meeting_id="m-ended")).result(10)
        assert isinstance(result, Named) and result.speaker_epoch == 2  # the meeting's last epoch
    finally:
        journal.close()
    with JournalReader(path) as reader:
        for meeting_id, payloads in EXPECTED["meetings"].items():
            shown = [u.to_payload() for u in reader.record(meeting_id).utterances]
            assert [{k: v for k, v in u.items() if k != "speaker_name"} for u in shown] == [
                {**p, **NEWER_FIELDS} for p in payloads]
        assert [(u["speaker_epoch"], u["speaker"], u["speaker_name"]) for u in
                (u.to_payload() for u in reader.record("m-ended").utterances)] == [
            (1, "Guest-2", None), (1, "Guest-1", None), (1, "Guest-2", None),
            (2, "Guest-1", "Alice"), (2, "Guest-2", None), (2, "Guest-1", "Alice")]


# -- readers show the names of now ---------------------------------------------------------------------------


def test_readers_show_the_names_of_now_and_the_stored_payloads_never_change(journal):
    with journal.reader() as reader:
        before = reader.payloads(DONE)
    assert journal.query(lambda db: name(db, "Guest-1", "Alice", meeting_id=DONE)).name == "Alice"
    assert journal.query(lambda db: name(db, "Guest-2", "Bob", meeting_id=DONE[:8], speaker_epoch=1)).name == "Bob"
    stored = journal.query(lambda db: db.execute("SELECT seq, payload FROM utterances ORDER BY seq").fetchall())
    assert [(seq, bytes(p)) for seq, p in stored] == before  # the record keeps what was published
    with journal.reader() as reader:
        shown = {seq: json.loads(p) for seq, p in reader.payloads(DONE)}
        record = reader.record(DONE)
        [meeting] = reader.meetings()
    for seq, payload in shown.items():
        expected = {(2, "Guest-1"): "Alice", (1, "Guest-2"): "Bob"}.get((payload["speaker_epoch"], payload["speaker"]))
        assert payload["speaker_name"] == expected
        assert {k: v for k, v in payload.items() if k != "speaker_name"} == \
            {k: v for k, v in json.loads(dict(before)[seq]).items() if k != "speaker_name"}
    assert [u.speaker_name for u in record.utterances] == [shown[u.seq]["speaker_name"] for u in record.utterances]
    assert meeting.to_json()["speakers"] == [
        {"speaker_epoch": 1, "speaker": "Guest-1", "name": None},
        {"speaker_epoch": 1, "speaker": "Guest-2", "name": "Bob"},
        {"speaker_epoch": 2, "speaker": "Guest-1", "name": "Alice"},
        {"speaker_epoch": 2, "speaker": "Guest-2", "name": None}]


def test_a_name_published_and_taken_away_later_is_not_shown(tmp_path):
    with JournalUnderTest(tmp_path / "journal.sqlite3") as store:
        store.meeting_started("m-1", ROOM, T0, 1)
        plain = utterance("m-1", 1, T0 + 1, speaker="Guest-1")
        store.add_utterance(plain)
        store.query(lambda db: names.set_names(db, "m-1", ((1, "Guest-1", "Alice"),), T0 + 2))
        from dataclasses import replace

        store.add_utterance(replace(utterance("m-1", 2, T0 + 3, speaker="Guest-1"), speaker_name="Alice"))
        with store.reader() as reader:
            assert [json.loads(p)["speaker_name"] for _, p in reader.payloads("m-1")] == ["Alice", "Alice"]
        store.query(lambda db: names.set_names(db, "m-1", ((1, "Guest-1", None),), T0 + 4))  # the owner's map
        with store.reader() as reader:
            first, second = reader.payloads("m-1")
            assert [json.loads(p)["speaker_name"] for _, p in (first, second)] == [None, None]
            assert first[1] == json.dumps(plain.to_payload(), separators=(",", ":")).encode()  # untouched bytes


def test_naming_a_past_meeting_refuses_what_it_cannot_name_and_changes_nothing(journal):
    def refused(speaker, new="Mallory", **where) -> str:
        result = journal.query(lambda db: name(db, speaker, new, **where))
        assert isinstance(result, NamingRefused), result
        return result.reason

    assert "unknown meeting" in refused("Guest-1", meeting_id="0000")
    assert "unknown meeting" in refused("Guest-1", meeting_id="current")  # none runs
    assert "has not spoken in this meeting" in refused("Guest-7", meeting_id=DONE)
    assert "it did in epoch 1, 2" in refused("Guest-1", meeting_id=DONE, speaker_epoch=5)
    assert journal.query(lambda db: queries.names(db, DONE)) == {}
    assert isinstance(journal.query(lambda db: name(db, "Guest-1", "X", running=DONE, meeting_id="last")), IsRunning)
    assert journal.query(lambda db: queries.names(db, DONE)) == {}
    named = journal.query(lambda db: name(db, "Guest-1", "Alice", meeting_id=DONE))
    taken = journal.query(lambda db: name(db, "Guest-1", None, meeting_id=DONE))
    assert (taken.name, taken.previous) == (None, "Alice") and named.previous is None
    assert journal.query(lambda db: queries.names(db, DONE)) == {}


def test_the_journals_output_writes_the_running_meetings_map_and_refuses_past_names_when_it_cannot(tmp_path):
    journal = Journal(tmp_path / "journal.sqlite3", room=ROOM)
    output = JournalOutput(journal, ROOM)
    output.start()
    try:
        output.submit_transcript(utterance("m-1", 1, T0 + 1, speaker="Guest-1"))
        output.publish_speakers(SpeakerMap(ROOM, "m-1", 1, ((1, "Guest-1", "Alice"), (1, "Guest-2", None))))
        output.publish_speakers(SpeakerMap(ROOM, "m-9", None, ((1, "Guest-1", "Zed"),), running=False))  # not ours
        assert journal.flush()
        with JournalReader(journal.path) as reader:
            assert reader.record("m-1").utterances[0].speaker_name == "Alice"
            assert reader.meeting("m-9") is None
        result = output.name_speaker(SpeakerNaming("Guest-1", "Bob", meeting_id="m-1"), running="m-1").result(10)
        assert result == IsRunning("m-1")
    finally:
        output.stop()
    off = Journal(tmp_path / "off.sqlite3", Policy(keep_record=False), room=ROOM)
    answer = JournalOutput(off, ROOM).name_speaker(SpeakerNaming("Guest-1", "Bob", meeting_id="last"), None)
    assert "switched off" in answer.result(1).reason


def test_forgetting_a_meeting_forgets_its_names_and_a_salvage_keeps_them(journal):
    journal.query(lambda db: name(db, "Guest-1", "Alice", meeting_id=DONE))
    salvaged = salvage_journal(journal.path)
    assert salvaged.others["speaker_names"] == [(DONE, 2, "Guest-1", "Alice", T0 + 9999)]
    copy = journal.path.parent / "copy.sqlite3"
    db = open_for_writing(copy)
    try:
        db.execute("BEGIN")
        salvaged.put(db)
        db.execute("COMMIT")
        assert queries.names(db, DONE) == {(2, "Guest-1"): "Alice"}
    finally:
        db.close()
    journal.close()
    assert [m.id for m in forget.forget_meeting(journal.path, DONE)] == [DONE]
    with sqlite3.connect(journal.path) as db:
        assert db.execute("SELECT COUNT(*) FROM speaker_names").fetchone()[0] == 0


def test_the_daemons_writer_holds_the_journal_and_the_command_line_sees_it(tmp_path):
    path = tmp_path / "journal.sqlite3"
    assert lock.alone(path) is None  # no journal here: nothing to take
    journal = Journal(path, room=ROOM).start()
    try:
        assert journal.flush()
        assert lock.alone(path) is None  # the writer has it: `roomscribe name` asks the daemon
        second = Journal(path, room=ROOM).start()  # a second daemon on it by mistake: it still runs, as before
        assert second.flush() and second.health.ok
        second.close()
    finally:
        journal.close()
    held = lock.alone(path)
    assert held is not None  # no daemon: the command line may write it itself
    try:
        waiting = Journal(path, room=ROOM).start()  # a daemon starting meanwhile waits for it
        done = waiting.writer.submit(lambda db: 1)
        assert not waiting.flush(timeout=0.3) and not done.done()
    finally:
        lock.release(held)
    assert done.result(10) == 1
    waiting.close()


def test_a_command_line_that_keeps_the_journal_too_long_is_a_passing_storage_failure(tmp_path, monkeypatch):
    path = tmp_path / "journal.sqlite3"
    Journal(path, room=ROOM).start().close()  # the file exists
    monkeypatch.setattr(lock, "WAIT_S", 0.2)
    held = lock.alone(path)
    journal = Journal(path, room=ROOM, retry_s=0.2)
    reports = []
    journal.set_health_handler(reports.append)
    journal.start()
    try:
        done = journal.writer.submit(lambda db: 1)
        deadline = time.monotonic() + 10
        while journal.health.ok:
            assert time.monotonic() < deadline, "the writer waits for ever"
            time.sleep(0.02)
        assert "holds the journal" in journal.health.detail and not done.done()  # kept, and said
        lock.release(held)
        assert done.result(10) == 1 and journal.flush() and journal.health.ok
        assert [r.event.kind for r in reports if r.event] == ["storage_failed", "storage_recovered"]
    finally:
        lock.release(held) if not done.done() else None
        journal.close()
