"""The durable outbox: final utterances wait here until the broker acknowledged them.

SQLite in WAL mode with synchronous=FULL, so an utterance that `put` returned for survives SIGKILL and
power loss. A row is deleted once the broker acknowledged it (PUBACK). Rows are kept in insertion
order, so after an outage they leave in the order they were spoken, with their original payload
(meeting_id and seq included).

Bounded by an explicit policy (docs/mqtt.md): at most `max_messages` rows and nothing older than
`max_age_s`; the oldest go first, and every drop is reported to the caller, who publishes an event.
The class is safe to use from several threads: one connection, one lock.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Literal

from roomscribe.core.records import Utterance, encode
from roomscribe.outputs.sqlite_files import move_aside

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    meeting_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    stored_at REAL NOT NULL,
    payload BLOB NOT NULL,
    UNIQUE (meeting_id, seq)
)
"""


@dataclass(frozen=True, slots=True)
class Pending:
    row_id: int
    meeting_id: str
    seq: int
    stored_at: float
    payload: bytes  # the transcript message exactly as it will be published


@dataclass(frozen=True, slots=True)
class Dropped:
    """Undelivered utterances removed by the bounds."""

    reason: Literal["max_messages", "max_age"]
    count: int
    first: tuple[str, int]  # (meeting_id, seq) of the oldest dropped
    last: tuple[str, int]

    def to_detail(self) -> dict:
        return {
            "reason": self.reason,
            "count": self.count,
            "first": {"meeting_id": self.first[0], "seq": self.first[1]},
            "last": {"meeting_id": self.last[0], "seq": self.last[1]},
        }


@dataclass(frozen=True, slots=True)
class Stored:
    row_id: int
    dropped: tuple[Dropped, ...] = ()


class Outbox:
    def __init__(
        self,
        path: Path | str,
        *,
        max_messages: int = 100_000,
        max_age_s: float = 7 * 86400,
        clock: Callable[[], float] = time.time,
    ):
        self.path = Path(path)
        self.max_messages = max_messages
        self.max_age_s = max_age_s
        self._clock = clock
        self._lock = threading.Lock()
        self._db = self._open()
        self._count = self._db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0]
        if self._count:
            log.info("outbox %s holds %d undelivered utterances", self.path, self._count)

    # -- opening -----------------------------------------------------------------------------------

    def _open(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            return self._connect()
        except sqlite3.DatabaseError as exc:
            aside = move_aside(self.path, self._clock())
            log.error("outbox %s is unreadable (%s); moved it to %s and started a new one", self.path, exc, aside)
            return self._connect()

    def _connect(self) -> sqlite3.Connection:
        fresh = not self.path.exists()
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=10)
        try:
            if fresh:
                os.chmod(self.path, 0o600)  # transcripts are private
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise sqlite3.DatabaseError(f"outbox schema {version} is newer than this roomscribe ({SCHEMA_VERSION})")
            db.execute(_SCHEMA)
            db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        except sqlite3.DatabaseError:
            db.close()
            raise
        return db

    # -- the API -----------------------------------------------------------------------------------

    def put(self, utterance: Utterance) -> Stored:
        """Store durably (committed and synced when this returns), then apply the bounds."""
        payload = encode(utterance.to_payload())
        now = self._clock()
        with self._lock:
            cursor = self._db.execute(
                "INSERT INTO outbox (meeting_id, seq, stored_at, payload) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (meeting_id, seq) DO NOTHING",
                (utterance.meeting_id, utterance.seq, now, payload),
            )
            if cursor.rowcount:
                self._count += 1
                row_id = cursor.lastrowid
            else:  # the same utterance again: keep the first copy and its place in the queue
                row_id = self._db.execute(
                    "SELECT id FROM outbox WHERE meeting_id = ? AND seq = ?", (utterance.meeting_id, utterance.seq)
                ).fetchone()[0]
            dropped = self._apply_bounds(now)
        return Stored(row_id, dropped)

    def pending(self, limit: int = 100, after: int = 0) -> list[Pending]:
        """Undelivered utterances with row_id > after, oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT id, meeting_id, seq, stored_at, payload FROM outbox WHERE id > ? ORDER BY id LIMIT ?",
                (after, limit),
            ).fetchall()
        return [Pending(row[0], row[1], row[2], row[3], bytes(row[4])) for row in rows]

    def mark_delivered(self, *row_ids: int) -> None:
        """The broker acknowledged these: forget them (in one transaction)."""
        if not row_ids:
            return
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                removed = 0
                for start in range(0, len(row_ids), 500):  # stay under SQLite's variable limit
                    chunk = row_ids[start : start + 500]
                    cursor = self._db.execute(
                        f"DELETE FROM outbox WHERE id IN ({','.join('?' * len(chunk))})", chunk
                    )
                    removed += cursor.rowcount
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._count -= removed

    def expire(self) -> tuple[Dropped, ...]:
        """Apply the bounds now (the age bound moves with the clock)."""
        with self._lock:
            return self._apply_bounds(self._clock())

    def __len__(self) -> int:
        return self._count

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- the bounds --------------------------------------------------------------------------------

    def _apply_bounds(self, now: float) -> tuple[Dropped, ...]:
        dropped = []
        oldest = self._db.execute("SELECT stored_at FROM outbox ORDER BY id LIMIT 1").fetchone()
        if oldest is not None and oldest[0] < now - self.max_age_s:  # the cheap check first: puts are frequent
            too_old = self._drop_where("stored_at < ?", (now - self.max_age_s,), "max_age")
            if too_old:
                dropped.append(too_old)
        excess = self._count - self.max_messages
        if excess > 0:
            cut = self._db.execute("SELECT id FROM outbox ORDER BY id LIMIT 1 OFFSET ?", (excess - 1,)).fetchone()[0]
            over = self._drop_where("id <= ?", (cut,), "max_messages")
            if over:
                dropped.append(over)
        for drop in dropped:
            log.warning(
                "outbox dropped %d undelivered utterances (%s), from %s#%d to %s#%d",
                drop.count, drop.reason, *drop.first, *drop.last,
            )
        return tuple(dropped)

    def _drop_where(self, condition: str, args: tuple, reason: str) -> Dropped | None:
        ends = self._db.execute(
            f"SELECT MIN(id), MAX(id), COUNT(*) FROM outbox WHERE {condition}", args
        ).fetchone()
        if not ends[2]:
            return None
        first = self._db.execute("SELECT meeting_id, seq FROM outbox WHERE id = ?", (ends[0],)).fetchone()
        last = self._db.execute("SELECT meeting_id, seq FROM outbox WHERE id = ?", (ends[1],)).fetchone()
        self._db.execute(f"DELETE FROM outbox WHERE {condition}", args)
        self._count -= ends[2]
        return Dropped(reason, ends[2], (first[0], first[1]), (last[0], last[1]))  # type: ignore[arg-type]
