"""The journal's writer: never blocks its callers, commits in order and in batches (one fsync for what
queued up), fails a bad write alone, drains on close, and what it said was durable survives SIGKILL."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from roomscribe.outputs.journal.reader import JournalReader
from roomscribe.outputs.journal.writer import WriterClosed
from tests.outputs.archive.meetings import ROOM, T0, record_meeting, utterance
from tests.support.journal import JournalUnderTest, waiting_on_disk


def stall(journal: JournalUnderTest) -> threading.Event:
    """A write that holds the writer's thread until the test lets go: a disk that stalls."""
    gate = threading.Event()
    journal.writer.submit(lambda db: gate.wait(30))
    time.sleep(0.05)  # let the writer take it
    return gate


def test_a_meeting_through_the_writer_is_stored_as_given(tmp_path):
    with JournalUnderTest(tmp_path / "j.sqlite3") as journal:
        said = record_meeting(journal, "m-1")
    record = JournalReader(tmp_path / "j.sqlite3").record("m-1")
    assert record.utterances == tuple(said)
    assert len(record.pauses) == 1 and [e for e, _ in record.epochs] == [1, 2]


def test_submitting_never_waits_for_the_disk_and_a_backlog_is_committed_in_few_transactions(tmp_path):
    with JournalUnderTest(tmp_path / "j.sqlite3") as journal:
        journal.meeting_started("m-1", ROOM, T0)
        gate = stall(journal)
        t0 = time.perf_counter()
        futures = [journal.writer.utterance(utterance("m-1", seq, T0 + seq)) for seq in range(1, 1001)]
        submit_s = time.perf_counter() - t0
        assert not any(f.done() for f in futures)
        assert submit_s < 0.5, f"1000 submissions took {submit_s:.3f} s while the disk stalled"
        commits_before = journal.journal.file.commits
        gate.set()
        assert all(f.result(30) is True for f in futures)
        assert journal.journal.file.commits - commits_before <= 4  # 512 per batch: a few fsyncs, not 1000
    assert [u.seq for u in JournalReader(tmp_path / "j.sqlite3").utterances("m-1")] == list(range(1, 1001))


def test_writes_complete_in_the_order_they_were_submitted(tmp_path):
    done = []
    with JournalUnderTest(tmp_path / "j.sqlite3") as journal:
        journal.meeting_started("m-1", ROOM, T0)
        for seq in range(1, 301):
            journal.writer.utterance(utterance("m-1", seq, T0 + seq)).add_done_callback(lambda f, s=seq: done.append(s))
    assert done == list(range(1, 301))
    assert waiting_on_disk(tmp_path / "j.sqlite3") == [("m-1", seq) for seq in range(1, 301)]  # the same order


def test_a_failing_write_fails_only_its_own_future(tmp_path, caplog):
    def explode(db):
        raise sqlite3.IntegrityError("boom")

    with JournalUnderTest(tmp_path / "j.sqlite3") as journal:
        journal.meeting_started("m-1", ROOM, T0)
        gate = stall(journal)
        before = journal.writer.utterance(utterance("m-1", 1, T0))
        bad = journal.writer.submit(explode)
        after = journal.writer.utterance(utterance("m-1", 2, T0 + 5))  # same batch as the bad one
        gate.set()
        assert before.result(10) and after.result(10)
        with pytest.raises(sqlite3.IntegrityError):
            bad.result(10)
        assert journal.journal.health.ok  # a wrong write is not a failing disk
    assert [u.seq for u in JournalReader(tmp_path / "j.sqlite3").utterances("m-1")] == [1, 2]
    assert "boom" in caplog.text


def test_a_commit_that_fails_leaves_no_transaction_behind(tmp_path):
    """A failed COMMIT (here a deferred foreign key) must not swallow later writes."""
    def orphan_epoch(db):
        db.execute("PRAGMA defer_foreign_keys=ON")  # the violation surfaces only at COMMIT
        db.execute("INSERT INTO epochs (meeting_id, epoch, first_at) VALUES ('no-such-meeting', 1, 0)")

    with JournalUnderTest(tmp_path / "j.sqlite3") as journal:
        journal.meeting_started("m-1", ROOM, T0)
        bad = journal.writer.submit(orphan_epoch)
        with pytest.raises(sqlite3.IntegrityError):
            bad.result(10)
        later = [journal.writer.utterance(utterance("m-1", seq, T0 + seq)) for seq in (1, 2, 3)]
        assert all(f.result(10) for f in later)
    assert [u.seq for u in JournalReader(tmp_path / "j.sqlite3").utterances("m-1")] == [1, 2, 3]


def test_close_drains_what_was_queued_and_refuses_more(tmp_path):
    journal = JournalUnderTest(tmp_path / "j.sqlite3", wait=False)
    journal.meeting_started("m-1", ROOM, T0)
    futures = [journal.add_utterance(utterance("m-1", seq, T0 + seq)) for seq in range(1, 501)]
    journal.close()
    assert all(f.done() and f.result() for f in futures)
    with pytest.raises(WriterClosed):
        journal.writer.utterance(utterance("m-1", 501, T0)).result(1)
    assert JournalReader(tmp_path / "j.sqlite3").meeting("m-1").utterances == 500
    journal.close()  # twice is fine


def test_acknowledgements_ride_on_the_next_commit_or_go_alone_when_nothing_else_comes(tmp_path):
    """At most one fsync per utterance: the broker's PUBACK of one utterance is written with the next."""
    with JournalUnderTest(tmp_path / "j.sqlite3", ack_flush_s=0.3) as journal:
        journal.meeting_started("m-1", ROOM, T0)
        journal.add_utterance(utterance("m-1", 1, T0))
        commits = journal.journal.file.commits
        journal.journal.deliveries.mark_delivered(1)
        assert len(journal.journal.deliveries) == 0  # at once, for the count Home Assistant shows
        journal.add_utterance(utterance("m-1", 2, T0 + 1))
        assert journal.journal.file.commits == commits + 1  # one commit: utterance 2 and the ack of 1
        assert waiting_on_disk(journal.path) == [("m-1", 2)]
        journal.journal.deliveries.mark_delivered(2)
        deadline = time.monotonic() + 5
        while waiting_on_disk(journal.path):  # nothing else is written: the ack goes alone, after ack_flush_s
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert journal.journal.file.commits == commits + 2


def test_what_was_acknowledged_durable_survives_sigkill(tmp_path):
    path = tmp_path / "j.sqlite3"
    script = textwrap.dedent(
        f"""
        import os, signal, sys, threading
        sys.path.insert(0, {os.getcwd()!r})
        from roomscribe.outputs.journal.journal import Journal
        from roomscribe.outputs.journal import writes
        from tests.outputs.archive.meetings import ROOM, T0, utterance
        journal = Journal({str(path)!r}).start()
        journal.writer.submit(writes.meeting_started, "m-kill", ROOM, T0, 1).result(10)
        enough = threading.Event()
        def acked(seq):
            def callback(future):
                if future.result():
                    os.write(1, f"{{seq}}\\n".encode())  # told: durable
                if seq == 401:
                    enough.set()
            return callback
        for seq in range(1, 20001):
            journal.writer.utterance(utterance("m-kill", seq, T0 + seq)).add_done_callback(acked(seq))
        enough.wait(30)
        os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], timeout=120, stdout=subprocess.PIPE,
                          env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert proc.returncode == -signal.SIGKILL
    acked = [int(line) for line in proc.stdout.split()]
    assert len(acked) >= 401
    stored = [u.seq for u in JournalReader(path).utterances("m-kill")]
    assert stored == list(range(1, len(stored) + 1))  # in order, no holes
    assert set(acked) <= set(stored)
    assert len(stored) < 20000, "the kill came after every write: the test proved nothing"
    assert waiting_on_disk(path) == [("m-kill", seq) for seq in stored]  # each still to be delivered


def test_events_the_record_takes_from_other_branches_audio_lost_and_clock_stepped(tmp_path):
    with JournalUnderTest(tmp_path / "j.sqlite3") as journal:
        journal.meeting_started("m-1", ROOM, T0, 1)
        journal.add_utterance(utterance("m-1", 1, T0 + 5))
        journal.audio_lost("m-1", T0 + 10, T0 + 40, 30.0, "stall")
        journal.audio_lost("m-unknown", T0, T0 + 1, 1.0, "stall")  # not kept, no error
        journal.pause_started("m-1", T0 + 50)
        journal.clock_stepped("m-1", 3 * 86400.0)  # NTP after boot: everything so far moves
        journal.pause_ended("m-1", T0 + 3 * 86400 + 60)
        journal.add_utterance(utterance("m-1", 2, T0 + 3 * 86400 + 65))
        journal.meeting_ended("m-1", T0 + 3 * 86400 + 70)
        journal.clock_stepped("m-1", -100.0)  # the meeting ended: nothing moves any more
    record = JournalReader(tmp_path / "j.sqlite3").record("m-1")
    step = 3 * 86400
    assert record.meeting.start == T0 + step and record.meeting.end - record.meeting.start == 70
    assert (record.meeting.lost_seconds, record.meeting.lost_spans) == (30.0, 1)
    assert [(span.start, span.end, span.reason) for span in record.lost] == [(T0 + step + 10, T0 + step + 40, "stall")]
    assert [(p.start, p.end) for p in record.pauses] == [(T0 + step + 50, T0 + step + 60)]
    assert record.meeting.paused_seconds == 10.0
    assert record.epochs == ((1, T0 + step),)
    first = record.utterances[0]
    assert first.start == T0 + step + 5
    [(_, payload)] = JournalReader(tmp_path / "j.sqlite3").payloads("m-1", after_seq=0, limit=1)
    from roomscribe.core.records import iso_utc

    assert iso_utc(T0 + step + 5).encode() in payload  # the stored payload moved with it
    assert record.meeting.to_json()["lost_seconds"] == 30.0 and record.meeting.to_json()["lost_spans"] == 1
