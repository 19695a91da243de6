"""The SQLite outbox on its own: order, durability, bounds and what it reports when it drops."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading

import pytest

from roomscribe.outputs.mqtt.outbox import Outbox
from tests.support.mqtt_link_process import utterance

DAY = 86400.0


class Clock:
    def __init__(self, now: float = 1_800_000_000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_pending_keeps_insertion_order_and_delivered_rows_leave(tmp_path):
    box = Outbox(tmp_path / "o.sqlite3")
    ids = [box.put(utterance("m1", seq, "r", 1.0)).row_id for seq in range(1, 8)]
    assert [p.seq for p in box.pending(limit=100)] == list(range(1, 8))
    assert [p.seq for p in box.pending(limit=3)] == [1, 2, 3]
    assert [p.seq for p in box.pending(limit=3, after=ids[2])] == [4, 5, 6]
    box.mark_delivered(ids[0], ids[2])
    assert [p.seq for p in box.pending()] == [2, 4, 5, 6, 7]
    assert len(box) == 5
    payload = json.loads(box.pending(limit=1)[0].payload)
    assert payload["meeting_id"] == "m1" and payload["seq"] == 2 and payload["text"] == "utterance number 2"


def test_the_same_utterance_twice_is_stored_once(tmp_path):
    box = Outbox(tmp_path / "o.sqlite3")
    first = box.put(utterance("m1", 1, "r", 1.0))
    again = box.put(utterance("m1", 1, "r", 1.0))
    assert first.row_id == again.row_id and len(box) == 1


def test_rows_survive_reopening_and_the_file_is_private(tmp_path):
    path = tmp_path / "state" / "o.sqlite3"
    box = Outbox(path)
    for seq in (1, 2, 3):
        box.put(utterance("m1", seq, "r", 1.0))
    box.mark_delivered(box.pending(limit=1)[0].row_id)
    box.close()
    again = Outbox(path)
    assert [p.seq for p in again.pending()] == [2, 3] and len(again) == 2
    assert path.stat().st_mode & 0o777 == 0o600


def test_max_messages_drops_the_oldest_and_says_so(tmp_path):
    box = Outbox(tmp_path / "o.sqlite3", max_messages=10)
    drops = []
    for seq in range(1, 14):
        drops += box.put(utterance("m1", seq, "r", 1.0)).dropped
    assert [p.seq for p in box.pending()] == list(range(4, 14))
    assert [(d.reason, d.count, d.first, d.last) for d in drops] == [
        ("max_messages", 1, ("m1", 1), ("m1", 1)),
        ("max_messages", 1, ("m1", 2), ("m1", 2)),
        ("max_messages", 1, ("m1", 3), ("m1", 3)),
    ]
    assert drops[0].to_detail() == {"reason": "max_messages", "count": 1,
                                    "first": {"meeting_id": "m1", "seq": 1}, "last": {"meeting_id": "m1", "seq": 1}}


def test_max_age_drops_old_rows_on_put_and_on_expire(tmp_path):
    clock = Clock()
    box = Outbox(tmp_path / "o.sqlite3", max_age_s=2 * DAY, clock=clock)
    for seq in (1, 2):
        box.put(utterance("m1", seq, "r", 1.0))
    clock.now += DAY
    box.put(utterance("m1", 3, "r", 1.0))
    clock.now += 1.5 * DAY  # rows 1 and 2 are now 2.5 days old, row 3 1.5 days
    assert box.expire()[0].to_detail() == {"reason": "max_age", "count": 2,
                                           "first": {"meeting_id": "m1", "seq": 1},
                                           "last": {"meeting_id": "m1", "seq": 2}}
    assert [p.seq for p in box.pending()] == [3]
    assert box.expire() == ()
    clock.now += DAY
    stored = box.put(utterance("m2", 1, "r", 1.0))
    assert [d.reason for d in stored.dropped] == ["max_age"]
    assert [(p.meeting_id, p.seq) for p in box.pending()] == [("m2", 1)]


def test_a_file_that_is_not_a_database_is_moved_aside(tmp_path, caplog):
    path = tmp_path / "o.sqlite3"
    path.write_bytes(b"this is not sqlite" * 100)
    box = Outbox(path)
    box.put(utterance("m1", 1, "r", 1.0))
    assert len(box) == 1
    assert [p.name for p in tmp_path.iterdir() if ".corrupt-" in p.name]
    assert "unreadable" in caplog.text


def test_concurrent_puts_and_acks_from_several_threads(tmp_path):
    box = Outbox(tmp_path / "o.sqlite3")

    def writer(meeting: str) -> None:
        for seq in range(1, 101):
            box.put(utterance(meeting, seq, "r", 1.0))

    threads = [threading.Thread(target=writer, args=(f"m{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    delivered = 0
    while any(t.is_alive() for t in threads) or len(box):
        rows = box.pending(limit=37)
        box.mark_delivered(*[r.row_id for r in rows])
        delivered += len(rows)
    for t in threads:
        t.join()
    assert delivered == 400 and len(box) == 0


def test_a_put_survives_sigkill_right_after_it_returned(tmp_path):
    path = tmp_path / "o.sqlite3"
    script = textwrap.dedent(
        f"""
        import os, signal, sys
        sys.path.insert(0, {os.getcwd()!r})
        from roomscribe.outputs.mqtt.outbox import Outbox
        from tests.support.mqtt_link_process import utterance
        box = Outbox({str(path)!r})
        for seq in range(1, 51):
            box.put(utterance("m-kill", seq, "r", 1.0))
        os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], timeout=60)
    assert proc.returncode == -signal.SIGKILL
    assert [(p.meeting_id, p.seq) for p in Outbox(path).pending(limit=100)] == [("m-kill", s) for s in range(1, 51)]


@pytest.mark.parametrize("bad", [0, -1])
def test_mark_delivered_ignores_unknown_rows(tmp_path, bad):
    box = Outbox(tmp_path / "o.sqlite3")
    box.put(utterance("m1", 1, "r", 1.0))
    box.mark_delivered(bad)
    box.mark_delivered()
    assert len(box) == 1
