"""The utterances waiting for the broker, as the journal's writer and the MQTT link both see them.

`Deliveries` is the link's view (its `TranscriptQueue`, outputs/mqtt/delivery.py), used on the link's
worker thread only. It reads through a read-only connection of its own, so it sees an utterance only
once the writer's commit of it returned: stored before published is decided by the writer's commit,
nowhere else. Utterances the disk refused are handed out from memory instead, oldest first with the
others. Acknowledgements only go into memory for the writer, which writes them with its next commit:
nothing here writes to the disk.

`Waiting` is the one piece of state the two threads share, under one lock, and nothing else:
* utterances the disk refused and the writer holds in memory (`hold`/`unhold`): the link publishes
  them anyway, from here, until they are stored, and the live page's catch-up reads them (`held_of`);
* acknowledgements the link reported and the writer has not written yet (`acknowledge`/`take_acks`):
  such an utterance is never handed out again;
* how many wait (`count`), kept by the writer from what its commits changed;
* the file's generation: the writer bumps it when it started a new file (a corrupt one was set aside),
  so that a reader opened on the old one opens again.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Collection

from roomscribe.outputs.journal.schema import WAITING, describe, open_for_reading

log = logging.getLogger(__name__)

ACK_BATCH = 256  # acknowledgements written at once when this many wait (a backlog being drained)


@dataclass(frozen=True, slots=True)
class Pending:
    """An utterance to deliver: the journal's row id (its order), its identity and the payload to publish."""

    row_id: int
    meeting_id: str
    seq: int
    payload: bytes


class Waiting:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._held: dict[int, Pending] = {}  # row id -> utterance the disk refused (insertion = id order)
        self._acked: set[int] = set()
        self._renamed: dict[int, int] = {}  # provisional row id -> the one it got in the file (renumber)
        self._stored_waiting = 0
        self.generation = 0
        self.on_ack: Callable[[], None] | None = None  # the writer's wake-up, when the first ack is pending

    # -- the link's side -------------------------------------------------------------------------

    def held_after(self, after: int, limit: int) -> list[Pending]:
        """Held utterances with row_id > after that are not acknowledged, oldest first."""
        with self._lock:
            found = [p for row_id, p in self._held.items() if row_id > after and row_id not in self._acked]
        return found[:limit]

    def held_of(self, meeting_id: str, after_seq: int = 0) -> list[Pending]:
        """Held utterances of one meeting with seq > after_seq, in seq order (the live page's catch-up reads
        them with the stored ones, before them: see JournalHistory)."""
        with self._lock:
            found = [p for p in self._held.values() if p.meeting_id == meeting_id and p.seq > after_seq]
        return sorted(found, key=lambda p: p.seq)

    def acked_after(self, after: int) -> set[int]:
        """Acknowledged ids the link could be handed again: those after its place (usually none)."""
        with self._lock:
            return {row_id for row_id in self._acked if row_id > after}

    def acknowledge(self, row_ids: Collection[int]) -> None:
        with self._lock:
            before = len(self._acked)
            self._acked.update(self._renamed.get(row_id, row_id) for row_id in row_ids)
            wake = before == 0 or before < ACK_BATCH <= len(self._acked)
        if wake and row_ids and self.on_ack is not None:
            self.on_ack()  # the first one starts the writer's clock; a full batch is written at once

    def acks_pending(self) -> int:
        with self._lock:
            return len(self._acked)

    @property
    def count(self) -> int:
        """Utterances not yet acknowledged by the broker: stored or held."""
        with self._lock:
            return max(0, self._stored_waiting + len(self._held) - len(self._acked))

    # -- the writer's side -----------------------------------------------------------------------

    def hold(self, pending: Pending) -> None:
        with self._lock:
            self._held[pending.row_id] = pending

    def unhold(self, row_ids: Collection[int]) -> None:
        with self._lock:
            for row_id in row_ids:
                self._held.pop(row_id, None)

    def renumber(self, mapping: dict[int, int]) -> None:
        """Held utterances got their ids before the file could be read (it could not be opened): now that it
        can, they move behind its rows. An acknowledgement of an old id counts for the new one."""
        with self._lock:
            self._held = {mapping.get(i, i): Pending(mapping.get(i, i), p.meeting_id, p.seq, p.payload)
                          for i, p in self._held.items()}
            self._acked = {mapping.get(i, i) for i in self._acked}
            self._renamed.update(mapping)

    def has_acks(self) -> bool:
        with self._lock:
            return bool(self._acked)

    def take_acks(self) -> list[int]:
        """The acknowledgements to write now; they still count as delivered until `acks_written`."""
        with self._lock:
            return list(self._acked)

    def acks_written(self, row_ids: Collection[int], were_waiting: int) -> None:
        with self._lock:
            self._acked.difference_update(row_ids)
            self._stored_waiting = max(0, self._stored_waiting - were_waiting)

    def stored(self, added: int = 0, removed: int = 0, total: int | None = None) -> None:
        """The waiting rows on disk changed: `added`/`removed` by a commit, or counted again (`total`)."""
        with self._lock:
            self._stored_waiting = total if total is not None else max(0, self._stored_waiting + added - removed)

    def new_file(self) -> None:
        with self._lock:
            self.generation += 1


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
        acked = self._waiting.acked_after(after)
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
