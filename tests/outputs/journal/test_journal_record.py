"""The journal's record: round trip, idempotency, lookups, retention, forgetting, the file itself."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
from dataclasses import dataclass

import pytest

from roomscribe.core.records import Utterance
from roomscribe.outputs.archive.meetings import AmbiguousMeeting, Pause, UnknownMeeting
from roomscribe.outputs.journal import forget
from roomscribe.outputs.journal.file import Policy
from roomscribe.outputs.journal.schema import APPLICATION_ID, SCHEMA_VERSION
from tests.outputs.archive.meetings import ROOM, T0, record_meeting, utterance
from tests.support.journal import JournalUnderTest, waiting_on_disk

DAY = 86400.0


class Clock:
    def __init__(self, now: float):
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def journal(tmp_path):
    with JournalUnderTest(tmp_path / "j.sqlite3") as journal:
        yield journal


def test_round_trip_of_a_meeting(journal):
    said = record_meeting(journal, "m-1")
    record = journal.reader().record("m-1")
    assert record.utterances == tuple(said)  # every field, floats included
    assert record.pauses == (Pause(said[3].start + 5.0, said[3].start + 125.0),)
    assert [epoch for epoch, _ in record.epochs] == [1, 2]
    m = record.meeting
    assert (m.id, m.room, m.start, m.utterances, m.speaker_epochs) == ("m-1", ROOM, T0, 12, (1, 2))
    assert m.end == said[-1].start + 6.0 and not m.running
    assert m.paused_seconds == pytest.approx(120.0)
    assert m.speakers == ((1, "Guest-1"), (1, "Guest-2"), (2, "Guest-1"), (2, "Guest-2"))


def test_the_file_is_private_wal_full_sync_and_marked_as_a_journal(journal):
    journal.flush()
    assert stat.S_IMODE(os.stat(journal.path).st_mode) == 0o600
    with sqlite3.connect(journal.path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert db.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
    assert journal.query(lambda db: db.execute("PRAGMA synchronous").fetchone()[0]) == 2  # FULL


@dataclass(frozen=True, slots=True)
class LaterUtterance(Utterance):
    """An utterance with a field this roomscribe does not know yet (another version's `late`)."""

    late: bool = False

    def to_payload(self):
        return {**Utterance.to_payload(self), "late": self.late}


def test_the_payload_is_kept_whole_so_new_fields_survive_storage_delivery_and_catch_up(journal):
    journal.meeting_started("m-1", ROOM, T0, 1)
    u = LaterUtterance("m-1", 1, "Guest-1", 1, "said late", T0 + 1, T0 + 2, 1000, 1000, "en-US", ROOM, late=True)
    journal.add_utterance(u)
    [waiting] = journal.journal.deliveries.pending()
    assert json.loads(waiting.payload) == u.to_payload()  # delivered as published, `late` included
    [(seq, payload)] = journal.reader().payloads("m-1")  # catch-up answers with the same bytes
    assert seq == 1 and payload == waiting.payload
    assert journal.reader().utterances("m-1")[0].text == "said late"  # the fields it knows, for the exports


def test_utterances_are_idempotent_on_meeting_and_seq(journal):
    journal.meeting_started("m-1", ROOM, T0)
    first = utterance("m-1", 1, T0 + 1)
    assert journal.add_utterance(first) is True
    assert journal.add_utterance(first) is False
    assert journal.add_utterance(utterance("m-1", 1, T0 + 9, text="a different text")) is False
    assert journal.reader().utterances("m-1") == [first]
    assert journal.reader().meeting("m-1").utterances == 1
    assert waiting_on_disk(journal.path) == [("m-1", 1)]  # and sent once


def test_repeated_starts_ends_and_resumes_change_nothing(journal):
    journal.meeting_started("m-1", ROOM, T0)
    journal.meeting_started("m-1", ROOM, T0 + 50)
    journal.pause_started("m-1", T0 + 10)
    journal.pause_started("m-1", T0 + 11)  # already paused
    journal.pause_ended("m-1", T0 + 20)
    journal.pause_ended("m-1", T0 + 25)  # not paused
    journal.meeting_ended("m-1", T0 + 60)
    journal.meeting_ended("m-1", T0 + 99)
    record = journal.reader().record("m-1")
    assert record.meeting.start == T0 and record.meeting.end == T0 + 60
    assert record.pauses == (Pause(T0 + 10, T0 + 20),)
    assert record.meeting.paused_seconds == 10


def test_an_open_pause_counts_until_now_and_is_closed_by_the_end(journal):
    clock = Clock(T0 + 100)
    journal.meeting_started("m-1", ROOM, T0)
    journal.pause_started("m-1", T0 + 40)
    assert journal.reader(clock=clock).meeting("m-1").paused_seconds == 60
    journal.meeting_ended("m-1", T0 + 70)
    clock.now += 1000
    assert journal.reader(clock=clock).meeting("m-1").paused_seconds == 30
    assert journal.reader().record("m-1").pauses == (Pause(T0 + 40, T0 + 70),)


def test_the_paused_time_of_the_end_event_wins_over_wall_clock_spans(journal):
    """meeting_ended carries paused_s, measured on a monotonic clock: the record takes it."""
    journal.meeting_started("m-1", ROOM, T0)
    journal.pause_started("m-1", T0 + 10)
    journal.pause_ended("m-1", T0 + 3600 * 72)  # a wall-clock step during the pause
    journal.meeting_ended("m-1", T0 + 3600 * 72 + 5, paused_s=30.0)
    journal.meeting_ended("m-1", T0 + 3600 * 80, paused_s=999.0)  # a second end changes nothing
    assert journal.reader().meeting("m-1").paused_seconds == 30.0


def test_an_utterance_of_an_unknown_meeting_starts_it(journal):
    journal.add_utterance(utterance("m-late", 7, T0 + 5))
    m = journal.reader().meeting("m-late")
    assert (m.start, m.utterances, m.speaker_epochs, m.running) == (T0 + 5, 1, (1,), True)
    journal.pause_started("m-unknown", T0)  # not kept, no error
    assert journal.reader().meeting("m-unknown") is None


def test_audio_seconds_is_a_total(journal):
    journal.meeting_started("m-1", ROOM, T0)
    journal.audio_seconds("m-1", 10.5)
    journal.audio_seconds("m-1", 12.0)
    assert journal.reader().meeting("m-1").audio_seconds == 12.0


def test_current_last_id_and_prefix(journal):
    with pytest.raises(UnknownMeeting, match="empty"):
        journal.reader().resolve("last")
    record_meeting(journal, "aaaa-1111", start=T0, n=2)
    record_meeting(journal, "aaaa-2222", start=T0 + DAY, n=2)
    reader = journal.reader()
    with pytest.raises(UnknownMeeting, match="no meeting is running"):
        reader.resolve("current")
    assert reader.resolve("last") == "aaaa-2222"
    record_meeting(journal, "bbbb-3333", start=T0 + 2 * DAY, n=2, end=False)
    assert reader.resolve("current") == reader.resolve("last") == "bbbb-3333"
    assert reader.resolve("aaaa-1111") == "aaaa-1111"
    assert reader.resolve("aaaa-2") == "aaaa-2222"
    assert reader.resolve("bbbb") == "bbbb-3333"
    with pytest.raises(AmbiguousMeeting) as caught:
        reader.resolve("aaaa")
    assert caught.value.candidates == ["aaaa-1111", "aaaa-2222"]
    with pytest.raises(UnknownMeeting, match="at least 4"):
        reader.resolve("bbb")
    with pytest.raises(UnknownMeeting):
        reader.resolve("cccc-0000")
    with pytest.raises(UnknownMeeting):
        reader.resolve("aaaa%")  # no LIKE wildcards


def test_utterances_after_a_seq_with_a_limit_and_meetings_since(journal):
    said = record_meeting(journal, "m-1", n=12)
    for day in range(1, 3):
        record_meeting(journal, f"m-{day + 1}", start=T0 + day * DAY, n=1)
    reader = journal.reader()
    assert reader.utterances("m-1", after_seq=3, limit=4) == said[3:7]
    assert reader.utterances("m-1", after_seq=12) == [] and reader.utterances("m-other") == []
    assert [m.id for m in reader.meetings()] == ["m-1", "m-2", "m-3"]
    assert [m.id for m in reader.meetings(since=T0 + DAY)] == ["m-2", "m-3"]


def test_retention_deletes_what_ended_long_ago_unless_it_still_waits_for_the_broker(tmp_path):
    now = T0 + 40 * DAY
    path = tmp_path / "j.sqlite3"
    with JournalUnderTest(path, clock=lambda: now) as journal:
        record_meeting(journal, "old", start=T0, n=3)  # ended 40 days ago
        journal.journal.deliveries.mark_delivered(1, 2, 3)
        record_meeting(journal, "old-undelivered", start=T0 + 1, n=2)  # as old, but never reached the broker
        record_meeting(journal, "edge", start=now - 30 * DAY - 3600, n=0, end=False)  # ends just inside 30 days
        journal.meeting_ended("edge", now - 30 * DAY + 1)
        record_meeting(journal, "recent", start=now - DAY, n=3)
        record_meeting(journal, "running-since-long", start=T0 - 5 * DAY, n=3, end=False)
    with JournalUnderTest(path, clock=lambda: now) as journal:  # retention runs at open (and then daily)
        journal.flush()
        assert {m.id for m in journal.reader().meetings()} == {"old-undelivered", "edge", "recent",
                                                                "running-since-long"}
        assert journal.reader().utterances("old") == [] and len(journal.reader().utterances("recent")) == 3
        counts = journal.query(lambda db: [db.execute(
            f"SELECT COUNT(*) FROM {t} WHERE meeting_id = 'old'").fetchone()[0] for t in ("utterances", "pauses", "epochs")])
        assert counts == [0, 0, 0]  # cascaded


def test_with_the_record_off_only_what_waits_is_kept(tmp_path):
    """archive.enabled false: the journal keeps an utterance until the broker has it, nothing longer."""
    path = tmp_path / "j.sqlite3"
    with JournalUnderTest(path, Policy(keep_record=False)) as journal:
        record_meeting(journal, "m-1", n=4)
        record_meeting(journal, "m-2", n=2, end=False)
        journal.journal.deliveries.mark_delivered(1, 2, 3, 4, 5)  # m-1 whole, and the first of m-2
    with JournalUnderTest(path, Policy(keep_record=False)) as journal:
        journal.flush()
        assert [(m.id, m.utterances) for m in journal.reader().meetings()] == [("m-2", 1)]
        assert waiting_on_disk(path) == [("m-2", 2)]


def test_forget_one_all_and_older(tmp_path):
    path = tmp_path / "j.sqlite3"
    clock = Clock(T0 + 10 * DAY)
    with JournalUnderTest(path) as journal:
        for day in range(4):
            record_meeting(journal, f"m-{day}", start=T0 + day * DAY, n=2)
        record_meeting(journal, "running", start=T0, n=1, end=False)
    assert [m.id for m in forget.forget_meeting(path, "m-1")] == ["m-1"]
    assert forget.forget_meeting(path, "m-1") == []
    with JournalUnderTest(path) as journal, pytest.raises(UnknownMeeting):
        journal.reader().record("m-1")
    assert [m.id for m in forget.forget_older_than(path, 7.5, clock=clock)] == ["m-0", "m-2"]
    assert sorted(m.id for m in forget.forget_all(path)) == ["m-3", "running"]
    assert waiting_on_disk(path) == []  # forgotten: never sent either


def test_forgotten_text_is_not_left_in_the_file(tmp_path):
    path = tmp_path / "j.sqlite3"
    with JournalUnderTest(path) as journal:
        journal.meeting_started("m-1", ROOM, T0)
        journal.add_utterance(utterance("m-1", 1, T0, text="the secret merger with Initech"))
    forget.forget_meeting(path, "m-1")
    raw = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("j.sqlite3"))
    assert b"Initech" not in raw


def test_end_unfinished_closes_this_rooms_open_meetings_at_their_last_moment(journal):
    said = record_meeting(journal, "crashed", n=3, end=False)
    journal.meeting_started("other-room", "kitchen", T0)
    assert journal.end_unfinished(ROOM) == ["crashed"]
    assert journal.reader().meeting("crashed").end == said[-1].end
    assert journal.reader().meeting("other-room").running
    assert journal.end_unfinished(ROOM) == []


def test_a_reader_reads_a_missing_or_empty_file_as_an_empty_journal_and_leaves_it_so(tmp_path):
    reader = journal_reader(tmp_path / "missing.sqlite3")
    assert reader.empty and reader.meetings() == [] and reader.meeting("x") is None
    with pytest.raises(UnknownMeeting, match="empty"):
        reader.resolve("last")
    assert not (tmp_path / "missing.sqlite3").exists()  # reading never creates one
    (tmp_path / "empty.sqlite3").write_bytes(b"")
    assert journal_reader(tmp_path / "empty.sqlite3").meetings() == []
    assert (tmp_path / "empty.sqlite3").stat().st_size == 0


def journal_reader(path):
    from roomscribe.outputs.journal.reader import JournalReader

    return JournalReader(path)
