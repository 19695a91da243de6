"""The archive's ordered writer: never blocks its callers, commits in order, drains on close, survives SIGKILL."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from roomscribe.outputs.archive.store import SCHEMA_VERSION, ArchiveStore
from roomscribe.outputs.archive.writer import ArchiveWriter, WriterClosed
from tests.outputs.archive.meetings import ROOM, T0, record_meeting, utterance


def test_a_meeting_through_the_writer_is_stored_as_given(tmp_path):
    path = tmp_path / "a.sqlite3"
    with ArchiveWriter(path) as writer:
        said = record_meeting(writer, "m-1")
    record = ArchiveStore(path, readonly=True).record("m-1")
    assert record.utterances == tuple(said)
    assert len(record.pauses) == 1 and [e for e, _ in record.epochs] == [1, 2]


def test_futures_say_whether_the_utterance_was_new(tmp_path):
    with ArchiveWriter(tmp_path / "a.sqlite3") as writer:
        writer.meeting_started("m-1", ROOM, T0)
        first = writer.utterance(utterance("m-1", 1, T0))
        again = writer.utterance(utterance("m-1", 1, T0))
        assert first.result(10) is True and again.result(10) is False


class GatedStore(ArchiveStore):
    """An archive whose utterance writes wait for a gate: a disk that stalls."""

    gate = threading.Event()

    def add_utterance(self, u):
        self.gate.wait(30)
        return super().add_utterance(u)


def test_submitting_never_waits_for_the_disk_and_a_backlog_is_committed_in_few_transactions(tmp_path):
    GatedStore.gate = threading.Event()
    with ArchiveWriter(tmp_path / "a.sqlite3", store_factory=GatedStore) as writer:
        writer.meeting_started("m-1", ROOM, T0).result(10)
        stalled = writer.utterance(utterance("m-1", 1, T0))
        time.sleep(0.05)  # let the writer take it and stall
        t0 = time.perf_counter()
        futures = [writer.utterance(utterance("m-1", seq, T0 + seq)) for seq in range(2, 1002)]
        submit_s = time.perf_counter() - t0
        assert not stalled.done() and not any(f.done() for f in futures)
        assert submit_s < 0.5, f"1000 submissions took {submit_s:.3f} s while the disk stalled"
        commits_before = writer.commits
        GatedStore.gate.set()
        assert all(f.result(30) is True for f in futures)
        assert writer.commits - commits_before <= 5  # group commit: a few transactions, not 1000 fsyncs
    assert [u.seq for u in ArchiveStore(tmp_path / "a.sqlite3").utterances("m-1")] == list(range(1, 1002))


def test_writes_complete_in_the_order_they_were_submitted(tmp_path):
    done = []
    with ArchiveWriter(tmp_path / "a.sqlite3") as writer:
        writer.meeting_started("m-1", ROOM, T0)
        for seq in range(1, 301):
            writer.utterance(utterance("m-1", seq, T0 + seq)).add_done_callback(lambda f, s=seq: done.append(s))
    assert done == list(range(1, 301))


def test_a_failing_write_fails_only_its_own_future(tmp_path, caplog):
    def explode(store):
        raise sqlite3.IntegrityError("boom")

    GatedStore.gate = threading.Event()
    with ArchiveWriter(tmp_path / "a.sqlite3", store_factory=GatedStore) as writer:
        writer.meeting_started("m-1", ROOM, T0).result(10)
        before = writer.utterance(utterance("m-1", 1, T0))
        bad = writer.submit(explode)
        after = writer.utterance(utterance("m-1", 2, T0 + 5))  # same batch as the bad one
        GatedStore.gate.set()
        assert before.result(10) and after.result(10)
        with pytest.raises(sqlite3.IntegrityError):
            bad.result(10)
    assert [u.seq for u in ArchiveStore(tmp_path / "a.sqlite3").utterances("m-1")] == [1, 2]
    assert "boom" in caplog.text


def test_close_drains_what_was_queued_and_refuses_more(tmp_path):
    writer = ArchiveWriter(tmp_path / "a.sqlite3").start()
    writer.meeting_started("m-1", ROOM, T0)
    futures = [writer.utterance(utterance("m-1", seq, T0 + seq)) for seq in range(1, 501)]
    writer.close()
    assert all(f.done() and f.result() for f in futures)
    with pytest.raises(WriterClosed):
        writer.utterance(utterance("m-1", 501, T0)).result(1)
    assert ArchiveStore(tmp_path / "a.sqlite3").meeting("m-1").utterances == 500
    writer.close()  # twice is fine


def test_start_raises_what_opening_raised_and_later_writes_fail(tmp_path):
    path = tmp_path / "a.sqlite3"
    ArchiveStore(path).close()
    with sqlite3.connect(path) as db:
        db.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    writer = ArchiveWriter(path)
    with pytest.raises(sqlite3.DatabaseError, match="newer"):
        writer.start()
    with pytest.raises(WriterClosed):
        writer.meeting_started("m-1", ROOM, T0).result(1)


def test_retention_runs_at_start_and_again_on_the_writer_thread(tmp_path):
    path = tmp_path / "a.sqlite3"
    now = T0 + 100 * 86400
    store = ArchiveStore(path)
    record_meeting(store, "ancient", start=T0, n=1)
    record_meeting(store, "recent", start=now - 86400, n=1)
    store.close()
    deleted = []
    with ArchiveWriter(path, retention_days=30, retention_interval_s=0.05,
                       store_factory=lambda p: ArchiveStore(p, clock=lambda: now),
                       on_retention=lambda gone: deleted.extend(m.id for m in gone)) as writer:
        deadline = time.monotonic() + 10
        while not deleted and time.monotonic() < deadline:
            time.sleep(0.01)
        assert deleted == ["ancient"]
        record_meeting(writer, "ended-long-ago", start=T0 + 60 * 86400, n=1)  # taken by the next run
        while len(deleted) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert deleted == ["ancient", "ended-long-ago"]
        writer.meeting_started("m-new", ROOM, now).result(10)  # writes still work after retention ran
    assert [m.id for m in ArchiveStore(path).meetings()] == ["recent", "m-new"]


def test_the_loop_awaits_durability_without_blocking(tmp_path):
    """How the daemon keeps "stored before published": await the future, then publish."""
    GatedStore.gate = threading.Event()
    published, ticks = [], []

    async def main(writer):
        async def ticker():
            while True:
                ticks.append(time.monotonic())
                await asyncio.sleep(0.01)

        tick_task = asyncio.create_task(ticker())
        await asyncio.wrap_future(writer.meeting_started("m-1", ROOM, T0))
        u = utterance("m-1", 1, T0)
        stored = asyncio.wrap_future(writer.utterance(u))
        asyncio.get_running_loop().call_later(0.2, GatedStore.gate.set)
        await stored
        published.append(u.seq)  # the link's submit_transcript would go here
        tick_task.cancel()

    with ArchiveWriter(tmp_path / "a.sqlite3", store_factory=GatedStore) as writer:
        asyncio.run(main(writer))
    assert published == [1]
    assert len(ticks) >= 10  # the loop kept running while the write waited for the disk


def test_what_was_acknowledged_durable_survives_sigkill(tmp_path):
    path = tmp_path / "a.sqlite3"
    script = textwrap.dedent(
        f"""
        import os, signal, sys, threading
        sys.path.insert(0, {os.getcwd()!r})
        from roomscribe.outputs.archive.writer import ArchiveWriter
        from tests.outputs.archive.meetings import ROOM, T0, utterance
        writer = ArchiveWriter({str(path)!r}).start()
        writer.meeting_started("m-kill", ROOM, T0).result(10)
        enough = threading.Event()
        def acked(seq):
            def callback(future):
                if future.result():
                    os.write(1, f"{{seq}}\\n".encode())  # told: durable
                if seq == 401:
                    enough.set()
            return callback
        for seq in range(1, 20001):
            writer.utterance(utterance("m-kill", seq, T0 + seq)).add_done_callback(acked(seq))
        enough.wait(30)
        os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], timeout=120, stdout=subprocess.PIPE,
                          env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert proc.returncode == -signal.SIGKILL
    acked = [int(line) for line in proc.stdout.split()]
    assert len(acked) >= 401
    stored = [u.seq for u in ArchiveStore(path).utterances("m-kill")]
    assert stored == list(range(1, len(stored) + 1))  # in order, no holes
    assert set(acked) <= set(stored)
    assert len(stored) < 20000, "the kill came after every write: the test proved nothing"


def test_a_commit_that_fails_leaves_no_transaction_behind(tmp_path):
    """A failed COMMIT (here a deferred foreign key; on a device a full disk) must not swallow later writes."""
    def orphan_epoch(store):
        store._db.execute("PRAGMA defer_foreign_keys=ON")  # the violation surfaces only at COMMIT
        store._db.execute("INSERT INTO epochs (meeting_id, epoch, first_at) VALUES ('no-such-meeting', 1, 0)")

    GatedStore.gate = threading.Event()
    path = tmp_path / "a.sqlite3"
    with ArchiveWriter(path, store_factory=GatedStore) as writer:
        writer.meeting_started("m-1", ROOM, T0).result(10)
        stalled = writer.utterance(utterance("m-1", 1, T0))
        time.sleep(0.05)
        bad = writer.submit(orphan_epoch)
        later = [writer.utterance(utterance("m-1", seq, T0 + seq)) for seq in (2, 3)]
        GatedStore.gate.set()
        assert stalled.result(10)
        with pytest.raises(sqlite3.IntegrityError):
            bad.result(10)
        assert all(f.result(10) for f in later)
    assert [u.seq for u in ArchiveStore(path, readonly=True).utterances("m-1")] == [1, 2, 3]
