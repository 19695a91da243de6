"""Whether the journal can store, and the events that say when that changes.

The writer's thread reports through `Reporter`; its `on_health` (set by the composition root) hands
each report to the owner, which publishes the event, carries the health in the state message
(`storage`), in systemd's STATUS= and so in Home Assistant's "Storage" problem sensor. `Trouble`
follows one spell of failing writes: when it began, when to try again, what was dropped meanwhile.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from roomscribe.core.records import Event, Level, Utterance
from roomscribe.outputs.base import StorageReport
from roomscribe.outputs.journal.schema import describe, is_transient

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Health:
    ok: bool
    detail: str = ""  # why not: "database or disk is full (SQLITE_FULL)"
    held: int = 0  # records waiting in memory for the disk


class Reporter:
    def __init__(self, room: str, clock: Callable[[], float]):
        self.room = room
        self.clock = clock
        self.health = Health(True)
        self.on_health: Callable[[StorageReport], None] | None = None

    def event(self, kind: str, detail: dict[str, Any], level: Level = "info") -> Event:
        return Event(kind, detail, self.clock(), self.room, level=level)

    def report(self, health: Health | None = None, event: Event | None = None) -> None:
        """A new health (said only when it changed) and/or an event."""
        changed = health is not None and (health.ok, health.detail) != (self.health.ok, self.health.detail)
        if health is not None:
            self.health = health
        if (changed or event is not None) and self.on_health is not None:
            try:
                self.on_health(StorageReport(self.health.ok, self.health.detail, event))
            except Exception:  # noqa: BLE001  (on the writer's thread: never let it die)
                log.exception("journal: the health report failed")


class Trouble:
    """A spell of writes the disk refused, on the writer's thread: said once when it begins, once when it ends."""

    def __init__(self, reporter: Reporter, path: Path, memory_backlog: int, retry_s: float,
                 monotonic: Callable[[], float]):
        self._reporter = reporter
        self._path = path
        self._memory_backlog = memory_backlog
        self.retry_s = retry_s
        self._monotonic = monotonic
        self.failed_at: float | None = None  # monotonic time of the last failure, while failing
        self._since = 0.0
        self._dropped = 0

    def retry_due(self, now: float) -> bool:
        return self.failed_at is None or now >= self.failed_at + self.retry_s

    def next_try(self) -> float:
        return (self.failed_at or self._monotonic()) + self.retry_s

    def failed(self, exc: BaseException, held: int) -> None:
        if not is_transient(exc):
            log.error("journal: storing failed", exc_info=exc)
        first = self.failed_at is None
        self.failed_at = self._monotonic()
        if not first:
            return
        self._since = self._reporter.clock()
        detail = describe(exc)
        log.error("journal %s: cannot store (%s); keeping up to %d records in memory, trying again every %g s",
                  self._path, detail, self._memory_backlog, self.retry_s)
        self._event("storage_failed", {"path": str(self._path), "error": detail, "memory_backlog": self._memory_backlog},
                    health=Health(False, detail, held))

    def holding(self, held: int) -> None:
        self._reporter.report(Health(False, self._reporter.health.detail, held))

    def dropped(self, victims: list[Utterance | None]) -> None:
        """Records the memory backlog had no room for (None: a record that is not an utterance)."""
        self._dropped += len(victims)
        said = [u for u in victims if u is not None]
        log.error("journal: %d records the disk refused were dropped from memory (memory_backlog %d is full)",
                  len(victims), self._memory_backlog)
        self._event("storage_dropped", {"count": len(victims), "utterances": len(said),
                                        "memory_backlog": self._memory_backlog,
                                        "first": _ident(said[0]) if said else None,
                                        "last": _ident(said[-1]) if said else None})

    def recovered(self) -> None:
        if self.failed_at is None:
            return
        self.failed_at = None
        failed_for = self._reporter.clock() - self._since
        log.warning("journal %s: storing again after %.1f s; what was held in memory is stored", self._path, failed_for)
        self._event("storage_recovered", {"path": str(self._path), "failed_for_s": round(failed_for, 3),
                                          "dropped": self._dropped}, "info", Health(True))
        self._dropped = 0

    def _event(self, kind: str, detail: dict[str, Any], level: Level = "error", health: Health | None = None) -> None:
        self._reporter.report(health, self._reporter.event(kind, detail, level))


def _ident(u: Utterance) -> dict:
    return {"meeting_id": u.meeting_id, "seq": u.seq}
