"""The journal as the composition root builds it: one file, its writer thread, and the MQTT link's view of it.

    journal = Journal.from_settings(settings)
    link = MqttLink(settings, transcripts=journal.deliveries)      # reads what waits, reports PUBACKs
    journal.writer.on_stored = link.wake                            # a commit with utterances wakes it
    output = FanOut([JournalOutput(journal, room, ...), link])      # the owner's one Output
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

from roomscribe.config import storage
from roomscribe.outputs.journal.file import JournalFile, Policy
from roomscribe.outputs.journal.health import Health, Reporter
from roomscribe.outputs.journal.waiting import Deliveries, Waiting
from roomscribe.outputs.journal.writer import JournalWriter


class Journal:
    def __init__(self, path: Path | str, policy: Policy = Policy(), *, room: str = "room", memory_backlog: int = 5000,
                 retry_s: float = 5.0, ack_flush_s: float = 60.0, clock: Callable[[], float] = time.time):
        self.path = Path(path)
        self.policy = policy
        self.waiting = Waiting()
        self.reporter = Reporter(room, clock)
        self.file = JournalFile(self.path, policy, self.waiting, self.reporter)
        self.writer = JournalWriter(self.file, self.waiting, self.reporter, memory_backlog=memory_backlog,
                                    retry_s=retry_s, ack_flush_s=ack_flush_s)
        self.deliveries = Deliveries(self.path, self.waiting)

    @classmethod
    def from_settings(cls, settings, **kwargs) -> "Journal":
        legacy = storage.legacy_stores(settings)
        policy = Policy(keep_record=settings.archive.enabled, retention_days=settings.archive.retention_days,
                        max_waiting=storage.max_waiting(settings), max_waiting_s=storage.max_waiting_s(settings),
                        legacy=(legacy.outbox, legacy.archive))
        kwargs.setdefault("retry_s", settings.journal.retry_seconds)
        return cls(storage.journal_path(settings), policy, room=settings.room,
                   memory_backlog=settings.journal.memory_backlog, **kwargs)

    @property
    def health(self) -> Health:
        return self.reporter.health

    def set_health_handler(self, on_health) -> None:
        """Where health reports go (the owner's `storage_report`); set before start()."""
        self.reporter.on_health = on_health

    def start(self) -> "Journal":
        self.writer.start()
        return self

    def flush(self, timeout: float = 10.0) -> bool:
        return self.writer.flush(timeout)

    def close(self) -> None:
        """After the link stopped: its reading connection first, so that the writer's close, the last one,
        checkpoints the WAL and removes it."""
        self.deliveries.close()
        self.writer.close()

    def __enter__(self) -> "Journal":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()
