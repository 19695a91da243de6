"""The MQTT link's view of the journal: the utterances waiting for the broker, and where acknowledgements go.

Used on the link's worker thread only (outputs/mqtt/delivery.py calls it). It reads through a read-only
connection of its own, so it sees an utterance only once the writer's commit of it returned: stored
before published is decided by the writer's commit, nowhere else. Utterances the disk refused are
handed out from memory (waiting.py) instead, oldest first with the others. Acknowledgements only go
into memory for the writer, which writes them with its next commit: nothing here writes to the disk.
"""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

from roomscribe.outputs.journal.schema import WAITING, describe, open_for_reading
from roomscribe.outputs.journal.waiting import Pending, Waiting

log = logging.getLogger(__name__)


class Deliveries:
    def __init__(self, path: Path, waiting: Waiting):
        self._path = Path(path)
        self._waiting = waiting
        self._db: sqlite3.Connection | None = None
        self._generation = -1
        self._failure: str | None = None

    def pending(self, limit: int = 100, after: int = 0) -> list[Pending]:
        """Undelivered utterances with row_id > after, oldest first: the held ones read before the stored
        ones, so an utterance being stored right now is found in one or the other (or both: once here)."""
        held = self._waiting.held_after(after, limit)
        acked = self._waiting.acked()
        stored = self._stored_after(after, limit + len(acked))
        merged = {p.row_id: p for p in held}
        merged.update((p.row_id, p) for p in stored if p.row_id not in acked)
        return [merged[row_id] for row_id in sorted(merged)][:limit]

    def mark_delivered(self, *row_ids: int) -> None:
        """The broker acknowledged these (PUBACK): the writer records it with its next commit."""
        if row_ids:
            self._waiting.acknowledge(row_ids)

    def __len__(self) -> int:
        return self._waiting.count

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    def _stored_after(self, after: int, limit: int) -> list[Pending]:
        try:
            db = self._connection()
            if db is None:
                return []
            rows = db.execute(
                f"SELECT id, meeting_id, seq, payload FROM utterances WHERE id > ? AND delivery = {WAITING} "
                "ORDER BY id LIMIT ?", (after, limit)).fetchall()
        except (sqlite3.Error, OSError) as exc:
            self.close()
            if describe(exc) != self._failure:
                self._failure = describe(exc)
                log.warning("journal: cannot read the utterances waiting for the broker: %s", self._failure)
            return []
        self._failure = None
        return [Pending(row[0], row[1], row[2], bytes(row[3])) for row in rows]

    def _connection(self) -> sqlite3.Connection | None:
        if self._generation != self._waiting.generation:  # a new file: the old connection reads the old one
            self.close()
        if self._db is None:
            self._generation = self._waiting.generation
            self._db = open_for_reading(self._path)
        return self._db
