"""Writes the disk refused, kept in memory in their order until it takes them again.

Bounded: beyond `limit` writes the oldest utterances go first (the other records are small and few),
and their futures fail. The utterances held are visible to the MQTT link through `Waiting`, so they
are published even though they are not stored yet.
"""

from __future__ import annotations

from collections import deque

from roomscribe.outputs.journal.file import Write
from roomscribe.outputs.journal.waiting import Pending, Waiting


class HeldWrites:
    def __init__(self, waiting: Waiting, limit: int):
        self._waiting = waiting
        self.limit = limit
        self._writes: deque[Write] = deque()

    def __len__(self) -> int:
        return len(self._writes)

    def keep(self, writes: list[Write]) -> list[Write]:
        """Hold these (after what is held already); returns the writes dropped to stay within the limit."""
        for write in writes:
            self._writes.append(write)
            if write.pending is not None:
                self._waiting.hold(write.pending)
        over = len(self._writes) - self.limit
        if over <= 0:
            return []
        victims = [w for w in self._writes if w.utterance is not None][:over] or list(self._writes)[:over]
        for write in victims:
            self._writes.remove(write)
            if write.pending is not None:
                self._waiting.unhold([write.pending.row_id])
            if write.done is not None and write.done.set_running_or_notify_cancel():
                write.done.set_exception(MemoryError("dropped: the disk refused it and the memory backlog was full"))
        return victims

    def take(self) -> list[Write]:
        """Everything held, oldest first; no longer held here (the link still sees the utterances until the
        commit that stores them, or `keep` takes them back)."""
        writes = list(self._writes)
        self._writes.clear()
        return writes


def renumber(writes: list[Write], next_id: int, waiting: Waiting) -> int:
    """Utterances held since before the file could be opened got provisional row ids: they go behind its
    rows, in their order. Returns the next free id."""
    pending = [(w, w.pending) for w in writes if w.pending is not None]
    if not pending:
        return next_id
    if pending[0][1].row_id >= next_id:
        return max(next_id, pending[-1][1].row_id + 1)
    mapping = {p.row_id: next_id + i for i, (_, p) in enumerate(pending)}
    for write, p in pending:
        write.pending = Pending(mapping[p.row_id], p.meeting_id, p.seq, p.payload)
    waiting.renumber(mapping)
    return next_id + len(pending)
