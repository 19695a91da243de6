"""The journal's writing connection and what is done with it: open (migrate, recover), commit, keep tidy.

Used by the writer's thread only (writer.py), which decides when; this module decides how. A commit
is one transaction, one fsync: every write of a batch in a savepoint of its own (a write that is
wrong fails alone), then the acknowledgements the link reported, then the bounds on what waits. A
failure of the machine (schema.is_transient) aborts the batch and is raised for the writer to hold
the batch in memory; a corrupt file is set aside after what it still holds is taken out, and the
batch goes into the new file.
"""

from __future__ import annotations

import logging
import sqlite3
from contextlib import closing
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from roomscribe.core.records import Level, Utterance
from roomscribe.outputs.journal import lock, writes
from roomscribe.outputs.journal.health import Reporter
from roomscribe.outputs.journal.recover import set_aside
from roomscribe.outputs.journal.schema import WAITING, is_corrupt, is_transient, open_for_reading, open_for_writing
from roomscribe.outputs.journal.waiting import Pending, Waiting

log = logging.getLogger(__name__)


@dataclass(eq=False, slots=True)
class Write:
    """One thing to record: `apply(db)`, or an utterance (its row id and payload given by the writer)."""

    apply: Callable[[sqlite3.Connection], Any] | None = None
    done: Future[Any] = field(default_factory=Future)  # completes after its commit
    utterance: Utterance | None = None
    pending: Pending | None = None
    stored_at: float = 0.0
    announced: bool = False  # the utterance was handed to the live page (writer.on_utterances)


Outcome = tuple[Write, Any, "BaseException | None"]  # a write, its result, or what it failed with


class PartlyCommitted(Exception):
    """A batch applied one write at a time stopped at a transient failure: these were committed, those not."""

    def __init__(self, outcomes: list[Outcome], remaining: list[Write], cause: BaseException):
        super().__init__(str(cause))
        self.outcomes, self.remaining, self.cause = outcomes, remaining, cause


@dataclass(frozen=True, slots=True)
class Policy:
    """What the journal keeps: the record (or only what waits), for how long, and how much may wait."""

    keep_record: bool = True
    retention_days: float = 30.0
    max_waiting: int = 100_000
    max_waiting_s: float = 7 * 86400
    legacy: tuple[Path, Path] | None = None  # (outbox, archive) of an older roomscribe, taken in at open


class JournalFile:
    def __init__(self, path: Path, policy: Policy, waiting: Waiting, reporter: Reporter):
        self.path = Path(path)
        self.policy = policy
        self._waiting = waiting
        self._reporter = reporter
        self._clock = reporter.clock
        self._db: sqlite3.Connection | None = None
        self._lock: int | None = None  # a shared flock while the file is open: the daemon holds it (lock.py)
        self._salvaged: Callable[[sqlite3.Connection], None] | None = None  # waits for a file to go into
        self._legacy_pending = policy.legacy is not None
        self.next_id = 1
        self.commits = 0

    @property
    def is_open(self) -> bool:
        return self._db is not None

    @property
    def _open_db(self) -> sqlite3.Connection:
        """The writing connection, for the steps that run only while the file is open."""
        if self._db is None:
            raise sqlite3.OperationalError("the journal is not open")
        return self._db

    def open(self) -> None:
        """Open (create, migrate, check); take in a salvage or old stores still waiting. Raises transient failures."""
        if self._db is None:
            try:
                self._connect()
            except sqlite3.Error as exc:
                if not is_corrupt(exc):
                    raise
                self._set_aside(exc)
                self._connect()
            self.next_id = 1
            self._count(self._open_db)
            self._waiting.new_file()  # a reader that had to read the file as it lay on disk reads it live now
        if self._salvaged is not None:
            self._put_salvaged()
        if self._legacy_pending:
            self._take_legacy()

    def _put_salvaged(self) -> None:
        if self._salvaged is not None:
            self._transaction(self._salvaged)
            self._salvaged = None
        self._count(self._open_db)

    def _count(self, db: sqlite3.Connection) -> None:
        """Utterance ids go on after the file's last; the waiting ones are counted afresh."""
        self.next_id = max(self.next_id, db.execute("SELECT COALESCE(MAX(id), 0) + 1 FROM utterances").fetchone()[0])
        self._waiting.stored(total=writes.waiting_count(db))

    def peek(self) -> None:
        """The file could not be opened for writing (a full disk): read what it holds as it lies on disk, so
        that the ids given to utterances meanwhile follow its rows, and its waiting ones are counted."""
        try:
            with closing(open_for_reading(self.path) or sqlite3.connect(":memory:")) as db:
                self._count(db)
        except (sqlite3.Error, OSError):
            pass  # nothing to read either: ids start at 1, and are moved behind the file's rows once it opens

    def _connect(self) -> None:
        """The writing connection, once this process holds the journal's shared lock."""
        if self._lock is None:
            self._lock = lock.share(self.path)
        try:
            self._db = open_for_writing(self.path)
        except BaseException:
            self._unlock()
            raise

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None
        self._unlock()

    def _unlock(self) -> None:
        lock.release(self._lock)
        self._lock = None

    # -- a batch ---------------------------------------------------------------------------------

    def commit(self, batch: list[Write]) -> list[Outcome]:
        """Apply the batch, the pending acknowledgements and the bounds in one transaction. Returns each
        write's result or error (after the commit). Raises a transient failure: nothing was committed
        (or PartlyCommitted, when the batch was being applied one write at a time)."""
        try:
            return self._commit(batch)
        except sqlite3.Error as exc:
            if is_transient(exc):
                raise
            if not is_corrupt(exc):  # a write that is wrong only at COMMIT (a deferred constraint): find it
                return self._one_by_one(batch)
            self._set_aside(exc)
            self._connect()
            self._put_salvaged()
            return self._commit(batch)

    def _one_by_one(self, batch: list[Write]) -> list[Outcome]:
        outcomes: list[Outcome] = []
        for index, write in enumerate(batch):
            try:
                outcomes += self._commit([write])
            except sqlite3.Error as exc:
                if is_transient(exc) or is_corrupt(exc):
                    raise PartlyCommitted(outcomes, batch[index:], exc) from exc
                outcomes.append((write, None, exc))
        return outcomes

    def _commit(self, batch: list[Write]) -> list[Outcome]:
        db = self._open_db
        outcomes: list[Outcome] = []
        added = 0
        acks = self._waiting.take_acks()
        db.execute("BEGIN IMMEDIATE")
        try:
            for write in batch:
                db.execute("SAVEPOINT write")
                try:
                    result = self._apply(db, write)
                    db.execute("RELEASE write")
                except sqlite3.Error as exc:
                    if is_corrupt(exc) or is_transient(exc):
                        raise
                    db.execute("ROLLBACK TO write")
                    db.execute("RELEASE write")
                    outcomes.append((write, None, exc))
                    continue
                added += bool(write.utterance is not None and result)
                outcomes.append((write, result, None))
            were_waiting = writes.delivered(db, acks, self.policy.keep_record) if acks else 0
            drops = self._bounds(db, added)
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:  # a failed COMMIT (a full disk) can leave it open: never join it later
                db.execute("ROLLBACK")
            raise
        self.commits += 1
        self._waiting.acks_written(acks, were_waiting)
        self._waiting.stored(added=added, removed=sum(d[0] for d in drops))
        self._waiting.unhold([w.pending.row_id for w in batch if w.pending is not None])
        for count, first, last in drops:
            self._dropped("max_messages", count, first, last)
        return outcomes

    def _apply(self, db: sqlite3.Connection, write: Write) -> Any:
        if write.utterance is None:
            return write.apply(db) if write.apply is not None else None
        p = write.pending
        if p is None:
            raise ValueError("an utterance to store has no row id yet (the writer gives it one)")
        return add_utterance(db, p.row_id, write.utterance, p.payload, write.stored_at)

    def _bounds(self, db: sqlite3.Connection, added: int) -> list[tuple[Any, ...]]:
        if self._waiting.count + added <= self.policy.max_waiting:  # the usual case, without counting rows
            return []
        excess = writes.waiting_count(db) - self.policy.max_waiting
        if excess <= 0:
            return []
        cut = db.execute("SELECT id FROM utterances WHERE delivery = 0 ORDER BY id LIMIT 1 OFFSET ?",
                         (excess - 1,)).fetchone()
        dropped = cut and writes.stop_delivering(db, cut[0], None, self.policy.keep_record)
        return [dropped] if dropped else []

    # -- keeping tidy ----------------------------------------------------------------------------

    def tidy(self) -> None:
        """Retention and the age bound: at open and then daily, on the writer's thread."""
        policy = self.policy
        too_old, gone = self._transaction(lambda db: writes.tidy(
            db, self._clock(), policy.keep_record, policy.retention_days * 86400, policy.max_waiting_s))
        if too_old:
            self._dropped("max_age", *too_old)
        if gone:
            log.info("journal retention (%s) deleted %d meeting(s): %s", f"{policy.retention_days:g} days"
                     if policy.keep_record else "kept until delivered", len(gone), ", ".join(gone))
        self._count(self._open_db)
        self._open_db.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # deleted text leaves the WAL too
        if self._legacy_pending:
            self._take_legacy()

    def _transaction(self, work: Callable[[sqlite3.Connection], Any]) -> Any:
        db = self._open_db
        db.execute("BEGIN IMMEDIATE")
        try:
            result = work(db)
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        self.commits += 1
        return result

    # -- older stores, broken files --------------------------------------------------------------

    def _take_legacy(self) -> None:
        if self.policy.legacy is None:
            self._legacy_pending = False
            return
        from roomscribe.outputs.journal import migrate  # only where an older version's stores are found

        outbox, archive = self.policy.legacy
        taken = self._transaction(lambda db: migrate.import_legacy(
            db, outbox, archive, keep_record=self.policy.keep_record, now=self._clock(), add=add_utterance))
        self._legacy_pending = False
        self._count(self._open_db)
        for path, aside in migrate.settle(taken, self._clock()):  # held by the journal now: removed, or set aside
            self._event("storage_quarantined", {"path": str(path), "moved_to": str(aside), "error": "corrupt"})

    def _set_aside(self, exc: BaseException) -> None:
        """The journal is corrupt: take out what it still holds, waiting utterances first, and set it aside."""
        self.close()
        taken, aside = set_aside(self.path, exc, self._clock())
        self._salvaged = taken.put
        self._waiting.new_file()
        self._event("storage_quarantined", {"path": str(self.path), "moved_to": str(aside), "error": str(exc),
                                            "meetings": len(taken.meetings), "utterances": len(taken.utterances),
                                            "waiting": taken.waiting})

    def _dropped(self, reason: str, count: int, first: tuple[str, int], last: tuple[str, int]) -> None:
        log.warning("journal: %d undelivered utterances are no longer sent (%s), from %s#%d to %s#%d",
                    count, reason, *first, *last)
        self._event("outbox_dropped", {"reason": reason, "count": count, "first": {"meeting_id": first[0], "seq": first[1]},
                                       "last": {"meeting_id": last[0], "seq": last[1]}}, "warning")

    def _event(self, kind: str, detail: dict[str, Any], level: Level = "error") -> None:
        self._reporter.report(event=self._reporter.event(kind, detail, level))


def add_utterance(db: sqlite3.Connection, row_id: int, u, payload: bytes, stored_at: float,
                  delivery: int = WAITING) -> bool:
    """Idempotent on (meeting_id, seq): the first copy is kept. True if it was new. An utterance of a meeting
    never started here (the record was switched on mid-meeting) starts the meeting at its start."""
    db.execute("INSERT INTO meetings (id, room, started_at) VALUES (?, ?, ?) ON CONFLICT (id) DO NOTHING",
               (u.meeting_id, u.room, u.start))
    cursor = db.execute(
        "INSERT INTO utterances (id, meeting_id, seq, speaker, speaker_epoch, start_at, end_at, stored_at, delivery, "
        "payload) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (meeting_id, seq) DO NOTHING",
        (row_id, u.meeting_id, u.seq, u.speaker, u.speaker_epoch, u.start, u.end, stored_at, delivery, payload))
    if cursor.rowcount:  # its speaker epoch, seen from its start if it is the first of that epoch
        db.execute("INSERT INTO epochs (meeting_id, epoch, first_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                   (u.meeting_id, u.speaker_epoch, u.start))
    return bool(cursor.rowcount)
