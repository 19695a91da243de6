"""Deleting meetings from the journal by hand (`roomscribe forget`), from a process of its own.

The daemon's writer owns the journal's writes; this is the one other writer, and SQLite's lock puts
the two in turn (a forget waits up to 10 s for the daemon's commit in progress). Deleted text does
not linger: secure_delete zeroes the pages, and the WAL is checkpointed and truncated after.
A meeting's utterances still waiting for the broker go with it: forgotten means never sent either.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

from roomscribe.outputs.archive.meetings import Meeting
from roomscribe.outputs.journal import queries, writes
from roomscribe.outputs.journal.schema import open_for_writing


def forget(path: Path, where: str, args: tuple = (), *, clock: Callable[[], float] = time.time) -> list[Meeting]:
    """Delete the meetings `WHERE …` for good (every meeting with ""); what was deleted."""
    db = open_for_writing(path)
    try:
        db.execute("BEGIN IMMEDIATE")
        try:
            ids = [row[0] for row in db.execute(f"SELECT id FROM meetings {where}", args)]
            gone = [queries.meeting(db, meeting_id, clock()) for meeting_id in ids]
            writes.forget(db, where, args)
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        if ids:
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # the WAL held the deleted pages until now
    finally:
        db.close()
    return [m for m in gone if m is not None]


def forget_meeting(path: Path, meeting_id: str) -> list[Meeting]:
    return forget(path, "WHERE id = ?", (meeting_id,))


def forget_older_than(path: Path, days: float, *, clock: Callable[[], float] = time.time) -> list[Meeting]:
    """Meetings that ended more than `days` ago; never the running one."""
    return forget(path, "WHERE ended_at IS NOT NULL AND ended_at < ?", (clock() - days * 86400,), clock=clock)


def forget_all(path: Path) -> list[Meeting]:
    return forget(path, "")

