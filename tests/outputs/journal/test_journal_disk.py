"""A full disk is a full disk (the journal on a tmpfs of a few hundred KiB, filled to the last byte): nothing
moved aside, utterances still handed to the link, what cannot be stored kept in memory and stored when space
returns, said when it fails and when it recovers. A broken file is set aside, and what it holds recovered."""

from __future__ import annotations

import os
import sqlite3
import time

from roomscribe.core.records import Event
from roomscribe.outputs.journal.held import HeldWrites, renumber
from roomscribe.outputs.journal.output import JournalOutput
from roomscribe.outputs.journal.reader import JournalReader
from roomscribe.outputs.journal.waiting import Pending, Waiting
from roomscribe.outputs.journal.file import Write
from tests.outputs.archive.meetings import ROOM, T0, utterance
from tests.support.journal import JournalUnderTest, waiting_on_disk
from tests.support.tmpfs import Tmpfs, needs_root

RETRY_S = 0.2


def long_utterance(meeting_id: str, seq: int):
    return utterance(meeting_id, seq, T0 + seq * 5, text=f"utterance {seq}: " + "words that fill the page " * 12)


def until(condition, what: str, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)
    return value


def nothing_set_aside(directory) -> bool:
    return not [p for p in directory.iterdir() if ".corrupt-" in p.name]


@needs_root
def test_full_at_start_with_utterances_waiting_then_freed(tmp_path):
    with Tmpfs(tmp_path / "disk", size_kib=512) as disk:
        path = disk.path / "journal.sqlite3"
        with JournalUnderTest(path) as journal:  # a previous run: four utterances never reached the broker
            journal.meeting_started("m-1", ROOM, T0, 1)
            for seq in range(1, 5):
                journal.add_utterance(long_utterance("m-1", seq))
        disk.fill()
        with JournalUnderTest(path, wait=False, retry_s=RETRY_S) as journal:
            view = journal.journal.deliveries
            until(lambda: len(view.pending()) == 4, "the waiting utterances")  # they go out on a full disk
            futures = [journal.add_utterance(long_utterance("m-1", seq)) for seq in range(5, 9)]
            until(lambda: not journal.journal.health.ok, "the failure to be seen")
            until(lambda: [p.seq for p in view.pending()] == list(range(1, 9)), "the new ones from memory")
            assert not any(f.done() for f in futures)  # not durable: the link publishes them anyway
            [failed] = journal.events("storage_failed")  # said once, however often it is tried again
            assert "full" in failed.detail["error"] and "(SQLITE_" in failed.detail["error"]
            assert journal.reports[-1].ok is False and journal.reports[-1].detail == failed.detail["error"]
            assert nothing_set_aside(disk.path)
            view.mark_delivered(*[p.row_id for p in view.pending()[:6]])  # the broker took six meanwhile
            disk.free()
            assert all(f.result(10) for f in futures)  # stored when space came back
            until(lambda: journal.journal.health.ok, "the recovery")
            [recovered] = journal.events("storage_recovered")
            assert recovered.detail["dropped"] == 0 and recovered.detail["failed_for_s"] > 0
        assert nothing_set_aside(disk.path)
        with JournalReader(path) as reader:
            assert [u.seq for u in reader.utterances("m-1")] == list(range(1, 9))  # no gap
        assert waiting_on_disk(path) == [("m-1", 7), ("m-1", 8)]  # and the acknowledgements kept


@needs_root
def test_full_from_the_first_byte_the_empty_file_reads_as_an_empty_journal(tmp_path):
    with Tmpfs(tmp_path / "disk", size_kib=256) as disk:
        disk.fill()
        path = disk.path / "journal.sqlite3"
        with JournalUnderTest(path, wait=False, retry_s=RETRY_S) as journal:
            journal.meeting_started("m-1", ROOM, T0, 1)
            journal.add_utterance(long_utterance("m-1", 1))
            until(lambda: journal.journal.deliveries.pending(), "the utterance from memory")
            assert not journal.journal.health.ok
            assert JournalReader(path).meetings() == []  # whatever it left, the commands read it as empty
            disk.free()
            until(lambda: journal.journal.health.ok, "the recovery")
            journal.flush()
            assert [u.seq for u in JournalReader(path).utterances("m-1")] == [1]
            assert [p.seq for p in journal.journal.deliveries.pending()] == [1]  # once, from the file now


@needs_root
def test_filled_mid_meeting_then_freed_the_record_has_no_gap_and_the_summary_counts_right(tmp_path):
    with Tmpfs(tmp_path / "disk", size_kib=512) as disk:
        summaries = []
        with JournalUnderTest(disk.path / "journal.sqlite3", retry_s=RETRY_S) as journal:
            output = JournalOutput(journal.journal, ROOM, on_meeting_ended=summaries.append)
            output.publish_event(Event("meeting_started", {"meeting_id": "m-1"}, T0, ROOM))
            for seq in range(1, 21):
                if seq == 10:
                    journal.flush()
                    disk.fill()
                output.submit_transcript(long_utterance("m-1", seq))
            output.publish_event(Event("audio_lost", {"meeting_id": "m-1", "start": T0 + 60, "end": T0 + 62,
                                                      "seconds": 2.0, "reason": "stall"}, T0 + 63, ROOM))
            output.publish_event(Event("meeting_ended", {"meeting_id": "m-1", "audio_sent_s": 80.0}, T0 + 120, ROOM))
            journal.flush()
            assert not journal.journal.health.ok and summaries == []  # not before its end is stored
            assert [p.seq for p in journal.journal.deliveries.pending(limit=100)] == list(range(1, 21))
            disk.free()
            until(lambda: summaries, "the meeting summary")
        [summary] = summaries
        assert (summary.utterances, summary.end, summary.lost_spans, summary.audio_seconds) == (20, T0 + 120, 1, 80.0)
        assert [u.seq for u in JournalReader(disk.path / "journal.sqlite3").utterances("m-1")] == list(range(1, 21))
        assert nothing_set_aside(disk.path)


@needs_root
def test_memory_is_bounded_the_oldest_utterances_go_first_and_an_event_names_them(tmp_path):
    with Tmpfs(tmp_path / "disk", size_kib=256) as disk:
        with JournalUnderTest(disk.path / "journal.sqlite3", wait=False, retry_s=60, memory_backlog=100) as journal:
            journal.meeting_started("m-1", ROOM, T0, 1)
            journal.flush()
            disk.fill()
            for seq in range(1, 131):
                journal.add_utterance(utterance("m-1", seq, T0 + seq))
            journal.flush()
            dropped = journal.events("storage_dropped")
            assert sum(e.detail["utterances"] for e in dropped) == 30
            assert dropped[0].detail["first"] == {"meeting_id": "m-1", "seq": 1}
            assert dropped[-1].detail["last"] == {"meeting_id": "m-1", "seq": 30}
            assert [p.seq for p in journal.journal.deliveries.pending(limit=500)] == list(range(31, 131))
            assert journal.reports[-1].ok is False


def test_a_journal_of_garbage_bytes_is_set_aside_and_a_new_one_started(tmp_path):
    path = tmp_path / "journal.sqlite3"
    path.write_bytes(os.urandom(16384))
    with JournalUnderTest(path) as journal:
        journal.meeting_started("m-1", ROOM, T0, 1)
        assert journal.add_utterance(utterance("m-1", 1, T0))
        [event] = journal.events("storage_quarantined")  # (the writer reported it before these commits)
        assert ".corrupt-" in event.detail["moved_to"] and event.level == "error"
        assert journal.journal.health.ok  # a new file works
    [aside] = tmp_path.glob("journal.sqlite3.corrupt-*")
    assert aside.stat().st_size == 16384  # kept as it was, to be looked at


def test_a_journal_with_a_broken_page_gives_up_its_waiting_utterances_first(tmp_path):
    path = tmp_path / "journal.sqlite3"
    with JournalUnderTest(path, wait=False) as journal:
        journal.meeting_started("m-1", ROOM, T0, 1)
        for seq in range(1, 301):
            journal.add_utterance(long_utterance("m-1", seq))
        journal.flush()
        journal.journal.deliveries.mark_delivered(*range(1, 201))  # 201..300 still wait
    with sqlite3.connect(path) as db:
        pages = db.execute("PRAGMA page_count").fetchone()[0]
        index_root = db.execute("SELECT rootpage FROM sqlite_master WHERE name LIKE 'sqlite_autoindex_utterances%'").fetchone()[0]
    with open(path, "r+b") as raw:  # a page of the (meeting_id, seq) index goes bad, as on a failing card
        raw.seek((index_root - 1) * 4096)
        raw.write(os.urandom(4096))
    with JournalUnderTest(path) as journal:
        journal.flush()
        [event] = journal.events("storage_quarantined")
        assert (event.detail["waiting"], event.detail["utterances"]) == (100, 300)
        assert waiting_on_disk(path) == [("m-1", seq) for seq in range(201, 301)]  # the same ones, in order
        assert len(journal.journal.deliveries) == 100
        assert journal.add_utterance(long_utterance("m-1", 301))
    assert list(tmp_path.glob("journal.sqlite3.corrupt-*")) and pages > 10


def test_utterances_held_before_the_file_could_be_opened_go_behind_its_rows():
    waiting = Waiting()
    writes = [Write(utterance=utterance("m", seq, T0), pending=Pending(seq, "m", seq, b"{}")) for seq in (1, 2)]
    held = HeldWrites(waiting, limit=10)
    held.keep(writes)
    waiting.acknowledge([1])  # the broker took the first from memory meanwhile
    assert renumber(writes, 41, waiting) == 43  # the file already holds rows up to 40
    assert [w.pending.row_id for w in writes] == [41, 42]
    assert [p.row_id for p in waiting.held_after(0, 10)] == [42]  # 41 (the old 1) is acknowledged
    waiting.acknowledge([2])  # a late PUBACK for the provisional id counts for the new one
    assert waiting.held_after(0, 10) == []


def test_an_empty_file_is_not_mistaken_for_a_broken_one(tmp_path):
    """What a start on a full disk can leave behind: SQLite makes it the journal, nothing is set aside."""
    path = tmp_path / "journal.sqlite3"
    path.write_bytes(b"")
    with JournalUnderTest(path) as journal:
        journal.meeting_started("m-1", ROOM, T0, 1)
        assert journal.journal.health.ok
    assert not list(tmp_path.glob("*.corrupt-*")) and JournalReader(path).meeting("m-1") is not None
