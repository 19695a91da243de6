"""The utterances waiting for the broker, as the journal's writer and the MQTT link both see them.

The one piece of state the two threads share, under one lock, and nothing else:
* utterances the disk refused and the writer holds in memory (`hold`/`unhold`): the link publishes
  them anyway, from here, until they are stored;
* acknowledgements the link reported and the writer has not written yet (`acknowledge`/`take_acks`):
  such an utterance is never handed out again;
* how many wait (`count`), kept by the writer from what its commits changed;
* the file's generation: the writer bumps it when it started a new file (a corrupt one was set aside),
  so that a reader opened on the old one opens again.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Callable


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

    def acked(self) -> frozenset[int]:
        with self._lock:
            return frozenset(self._acked)

    def acknowledge(self, row_ids) -> None:
        with self._lock:
            first = not self._acked
            self._acked.update(self._renamed.get(row_id, row_id) for row_id in row_ids)
        if first and row_ids and self.on_ack is not None:
            self.on_ack()

    @property
    def count(self) -> int:
        """Utterances not yet acknowledged by the broker: stored or held."""
        with self._lock:
            return max(0, self._stored_waiting + len(self._held) - len(self._acked))

    # -- the writer's side -----------------------------------------------------------------------

    def hold(self, pending: Pending) -> None:
        with self._lock:
            self._held[pending.row_id] = pending

    def unhold(self, row_ids) -> None:
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

    def acks_written(self, row_ids, were_waiting: int) -> None:
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
