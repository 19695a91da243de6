"""The archive store: round trip, idempotency, lookups, retention and forgetting."""

from __future__ import annotations

import os
import sqlite3
import stat
from dataclasses import replace

import pytest

from roomscribe.outputs.archive.meetings import AmbiguousMeeting, Pause, UnknownMeeting
from roomscribe.outputs.archive.store import SCHEMA_VERSION, ArchiveStore
from tests.outputs.archive.meetings import ROOM, T0, record_meeting, utterance

DAY = 86400.0


class Clock:
    def __init__(self, now: float):
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_round_trip_of_a_meeting(tmp_path):
    store = ArchiveStore(tmp_path / "a.sqlite3")
    said = record_meeting(store, "m-1")
    record = store.record("m-1")
    assert record.utterances == tuple(said)  # every field, floats included
    assert record.pauses == (Pause(said[3].start + 5.0, said[3].start + 125.0),)
    assert [epoch for epoch, _ in record.epochs] == [1, 2]
    m = record.meeting
    assert (m.id, m.room, m.start, m.utterances, m.speaker_epochs) == ("m-1", ROOM, T0, 12, (1, 2))
    assert m.end == said[-1].start + 6.0 and not m.running
    assert m.paused_seconds == pytest.approx(120.0)
    assert m.speakers == ((1, "Guest-1"), (1, "Guest-2"), (2, "Guest-1"), (2, "Guest-2"))
    store.close()
    again = ArchiveStore(tmp_path / "a.sqlite3", readonly=True)
    assert again.record("m-1") == record


def test_file_is_private_wal_and_versioned(tmp_path):
    path = tmp_path / "a.sqlite3"
    store = ArchiveStore(path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert store._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store._db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert store._db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def test_a_newer_schema_is_refused_and_kept(tmp_path):
    path = tmp_path / "a.sqlite3"
    ArchiveStore(path).close()
    with sqlite3.connect(path) as db:
        db.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    with pytest.raises(sqlite3.DatabaseError, match="newer"):
        ArchiveStore(path)
    assert path.exists() and not list(tmp_path.glob("*.corrupt-*"))


def test_a_file_that_is_no_database_is_moved_aside(tmp_path, caplog):
    path = tmp_path / "a.sqlite3"
    path.write_bytes(b"this is not sqlite" * 100)
    store = ArchiveStore(path)
    assert store.meetings() == []
    assert list(tmp_path.glob("a.sqlite3.corrupt-*"))


def test_utterances_are_idempotent_on_meeting_and_seq(tmp_path):
    store = ArchiveStore(tmp_path / "a.sqlite3")
    store.meeting_started("m-1", ROOM, T0)
    first = utterance("m-1", 1, T0 + 1)
    assert store.add_utterance(first) is True
    assert store.add_utterance(first) is False
    assert store.add_utterance(utterance("m-1", 1, T0 + 9, text="a different text")) is False
    assert store.utterances("m-1") == [first]
    assert store.meeting("m-1").utterances == 1


def test_repeated_starts_ends_and_resumes_change_nothing(tmp_path):
    store = ArchiveStore(tmp_path / "a.sqlite3")
    store.meeting_started("m-1", ROOM, T0)
    store.meeting_started("m-1", ROOM, T0 + 50)
    store.pause_started("m-1", T0 + 10)
    store.pause_started("m-1", T0 + 11)  # already paused
    store.pause_ended("m-1", T0 + 20)
    store.pause_ended("m-1", T0 + 25)  # not paused
    store.meeting_ended("m-1", T0 + 60)
    store.meeting_ended("m-1", T0 + 99)
    record = store.record("m-1")
    assert record.meeting.start == T0 and record.meeting.end == T0 + 60
    assert record.pauses == (Pause(T0 + 10, T0 + 20),)
    assert record.meeting.paused_seconds == 10


def test_an_open_pause_counts_until_now_and_is_closed_by_the_end(tmp_path):
    clock = Clock(T0 + 100)
    store = ArchiveStore(tmp_path / "a.sqlite3", clock=clock)
    store.meeting_started("m-1", ROOM, T0)
    store.pause_started("m-1", T0 + 40)
    assert store.meeting("m-1").paused_seconds == 60
    store.meeting_ended("m-1", T0 + 70)
    clock.now += 1000
    assert store.meeting("m-1").paused_seconds == 30
    assert store.record("m-1").pauses == (Pause(T0 + 40, T0 + 70),)


def test_an_utterance_of_an_unknown_meeting_starts_it(tmp_path):
    store = ArchiveStore(tmp_path / "a.sqlite3")
    store.add_utterance(utterance("m-late", 7, T0 + 5))
    m = store.meeting("m-late")
    assert (m.start, m.utterances, m.speaker_epochs, m.running) == (T0 + 5, 1, (1,), True)
    store.pause_started("m-unknown", T0)  # not kept, no error
    assert store.meeting("m-unknown") is None


def test_audio_seconds_is_a_total(tmp_path):
    store = ArchiveStore(tmp_path / "a.sqlite3")
    store.meeting_started("m-1", ROOM, T0)
    store.set_audio_seconds("m-1", 10.5)
    store.set_audio_seconds("m-1", 12.0)
    assert store.meeting("m-1").audio_seconds == 12.0


def test_current_last_id_and_prefix(tmp_path):
    store = ArchiveStore(tmp_path / "a.sqlite3")
    with pytest.raises(UnknownMeeting, match="empty"):
        store.resolve("last")
    record_meeting(store, "aaaa-1111", start=T0, n=2)
    record_meeting(store, "aaaa-2222", start=T0 + DAY, n=2)
    with pytest.raises(UnknownMeeting, match="no meeting is running"):
        store.resolve("current")
    assert store.resolve("last") == "aaaa-2222"
    record_meeting(store, "bbbb-3333", start=T0 + 2 * DAY, n=2, end=False)
    assert store.resolve("current") == store.resolve("last") == "bbbb-3333"
    assert store.resolve("aaaa-1111") == "aaaa-1111"
    assert store.resolve("aaaa-2") == "aaaa-2222"
    assert store.resolve("bbbb") == "bbbb-3333"
    with pytest.raises(AmbiguousMeeting) as caught:
        store.resolve("aaaa")
    assert caught.value.candidates == ["aaaa-1111", "aaaa-2222"]
    with pytest.raises(UnknownMeeting, match="at least 4"):
        store.resolve("bbb")
    with pytest.raises(UnknownMeeting):
        store.resolve("cccc-0000")
    with pytest.raises(UnknownMeeting):
        store.resolve("aaaa%")  # no LIKE wildcards


def test_utterances_after_a_seq_with_a_limit(tmp_path):
    store = ArchiveStore(tmp_path / "a.sqlite3")
    said = record_meeting(store, "m-1", n=12)
    assert store.utterances("m-1", after_seq=3, limit=4) == said[3:7]
    assert store.utterances("m-1", after_seq=12) == []
    assert store.utterances("m-other") == []


def test_meetings_since(tmp_path):
    store = ArchiveStore(tmp_path / "a.sqlite3")
    for day in range(3):
        record_meeting(store, f"m-{day}", start=T0 + day * DAY, n=1)
    assert [m.id for m in store.meetings()] == ["m-0", "m-1", "m-2"]
    assert [m.id for m in store.meetings(since=T0 + DAY)] == ["m-1", "m-2"]


def test_retention_deletes_what_is_old_and_nothing_else(tmp_path):
    clock = Clock(T0 + 40 * DAY)
    store = ArchiveStore(tmp_path / "a.sqlite3", clock=clock)
    record_meeting(store, "old", start=T0, n=3)  # ended 40 days ago
    old_end = store.meeting("old").end
    record_meeting(store, "edge", start=clock.now - 30 * DAY - 3600, n=0, end=False)  # ends just inside 30 days
    store.meeting_ended("edge", clock.now - 30 * DAY + 1)
    record_meeting(store, "recent", start=clock.now - DAY, n=3)
    record_meeting(store, "running-since-long", start=T0 - 5 * DAY, n=3, end=False)
    gone = store.apply_retention(30)
    assert [m.id for m in gone] == ["old"]
    assert gone[0].end == old_end and gone[0].utterances == 3
    assert {m.id for m in store.meetings()} == {"edge", "recent", "running-since-long"}
    assert store.utterances("old") == [] and len(store.utterances("recent")) == 3
    counts = [store._db.execute(f"SELECT COUNT(*) FROM {t} WHERE meeting_id = 'old'").fetchone()[0]
              for t in ("utterances", "pauses", "epochs")]
    assert counts == [0, 0, 0]  # cascaded
    assert store.apply_retention(30) == []


def test_forget_one_all_and_older(tmp_path):
    clock = Clock(T0 + 10 * DAY)
    store = ArchiveStore(tmp_path / "a.sqlite3", clock=clock)
    for day in range(4):
        record_meeting(store, f"m-{day}", start=T0 + day * DAY, n=2)
    assert [m.id for m in store.forget("m-1")] == ["m-1"]
    assert store.forget("m-1") == []
    with pytest.raises(UnknownMeeting):
        store.record("m-1")
    assert [m.id for m in store.forget_older_than(7.5)] == ["m-0", "m-2"]
    record_meeting(store, "running", start=T0, n=1, end=False)
    assert sorted(m.id for m in store.forget_all()) == ["m-3", "running"]
    assert store.meetings() == []


def test_forgotten_text_is_not_left_in_the_file(tmp_path):
    path = tmp_path / "a.sqlite3"
    store = ArchiveStore(path)
    store.meeting_started("m-1", ROOM, T0)
    store.add_utterance(utterance("m-1", 1, T0, text="the secret merger with Initech"))
    store.forget("m-1")
    store.close()
    raw = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("a.sqlite3"))
    assert b"Initech" not in raw


def test_end_unfinished_closes_this_rooms_open_meetings_at_their_last_moment(tmp_path):
    store = ArchiveStore(tmp_path / "a.sqlite3")
    said = record_meeting(store, "crashed", n=3, end=False)
    store.meeting_started("other-room", "kitchen", T0)
    assert store.end_unfinished(ROOM) == ["crashed"]
    assert store.meeting("crashed").end == said[-1].end
    assert store.meeting("other-room").running
    assert store.end_unfinished(ROOM) == []


def test_readonly_store_cannot_write_and_needs_the_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        ArchiveStore(tmp_path / "missing.sqlite3", readonly=True)
    ArchiveStore(tmp_path / "a.sqlite3").close()
    reader = ArchiveStore(tmp_path / "a.sqlite3", readonly=True)
    with pytest.raises(sqlite3.OperationalError):
        reader.meeting_started("m-1", ROOM, T0)


def test_an_archive_of_schema_1_is_upgraded_and_its_utterances_read_as_synchronised(tmp_path):
    path = tmp_path / "a.sqlite3"
    with sqlite3.connect(path) as db:  # what roomscribe wrote before utterances kept clock_synchronized
        db.executescript("""
            CREATE TABLE meetings (id TEXT PRIMARY KEY, room TEXT NOT NULL, started_at REAL NOT NULL, ended_at REAL,
                audio_seconds REAL NOT NULL DEFAULT 0, paused_seconds REAL NOT NULL DEFAULT 0);
            CREATE TABLE utterances (meeting_id TEXT NOT NULL REFERENCES meetings (id) ON DELETE CASCADE,
                seq INTEGER NOT NULL, speaker TEXT NOT NULL, speaker_epoch INTEGER NOT NULL, text TEXT NOT NULL,
                start_at REAL NOT NULL, end_at REAL NOT NULL, offset_ms INTEGER NOT NULL, duration_ms INTEGER NOT NULL,
                language TEXT NOT NULL, room TEXT NOT NULL, PRIMARY KEY (meeting_id, seq)) WITHOUT ROWID;
            INSERT INTO meetings (id, room, started_at) VALUES ('m-old', 'boardroom', 1000.0);
            INSERT INTO utterances VALUES ('m-old', 1, 'Guest-1', 1, 'from before', 1001.0, 1002.0, 0, 1000,
                'en-US', 'boardroom');
            PRAGMA user_version = 1;""")
    store = ArchiveStore(path)
    [old] = store.utterances("m-old")
    assert (old.text, old.clock_synchronized) == ("from before", True)
    store.add_utterance(replace(old, seq=2, clock_synchronized=False))
    assert [u.clock_synchronized for u in store.utterances("m-old")] == [True, False]
    assert store._db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 2


def test_a_clock_step_moves_only_the_running_meeting(tmp_path):
    store = ArchiveStore(tmp_path / "a.sqlite3")
    done = record_meeting(store, "m-done", n=6)
    running = record_meeting(store, "m-run", start=T0 + DAY, n=6, end=False)
    store.pause_started("m-run", T0 + DAY + 100)  # an open pause moves too
    before = store.record("m-run")
    store.clock_stepped("m-run", 2 * DAY)
    store.clock_stepped("m-done", 2 * DAY)  # an ended meeting is never moved
    after = store.record("m-run")
    assert after.meeting.start == before.meeting.start + 2 * DAY
    assert [(p.start, p.end) for p in after.pauses] == [
        (p.start + 2 * DAY, None if p.end is None else p.end + 2 * DAY) for p in before.pauses]
    assert [at for _, at in after.epochs] == [at + 2 * DAY for _, at in before.epochs]
    assert [(u.start, u.end) for u in after.utterances] == [(u.start + 2 * DAY, u.end + 2 * DAY) for u in running]
    assert store.record("m-done").utterances == tuple(done)
