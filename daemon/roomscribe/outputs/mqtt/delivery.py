"""Transcripts from the journal to the broker: in the journal's order, at most WINDOW unacknowledged at a time.

Used by the MQTT link's worker thread only (no locking here). The journal (`TranscriptQueue`, the
journal's Deliveries) hands out only what its writer committed (or holds in memory while the disk
refuses writes); an utterance stops waiting when its PUBACK arrives, reported back in batches, one
report per batch of jobs. Nothing here writes to the disk: the journal's writer records the reports.
"""

from __future__ import annotations

import logging
from typing import Callable, Protocol, Sequence

from paho.mqtt.reasoncodes import ReasonCode

log = logging.getLogger(__name__)

WINDOW = 50  # transcripts handed to paho and not yet acknowledged


class Waiting(Protocol):
    @property
    def row_id(self) -> int:
        """The journal's order."""
        ...

    @property
    def payload(self) -> bytes:
        """The transcript exactly as it is published."""
        ...


class TranscriptQueue(Protocol):
    """What waits for the broker (outputs/journal/waiting.py `Deliveries`)."""

    def pending(self, limit: int = 100, after: int = 0) -> Sequence[Waiting]: ...

    def mark_delivered(self, *row_ids: int) -> None: ...

    def __len__(self) -> int: ...


class TranscriptDelivery:
    def __init__(self, queue: TranscriptQueue, publish: Callable[[bytes], int | None]):
        """`publish(payload)` sends one transcript at QoS 1 and returns paho's mid, or None when offline."""
        self._queue = queue
        self._publish = publish
        self._inflight: dict[int, int] = {}  # paho mid -> journal row
        self._sent_upto = 0  # the last journal row handed to paho on this connection
        self._held: set[int] = set()  # rows the broker refused (MQTT 5); tried again on the next connect
        self._acked: list[int] = []

    @property
    def in_flight(self) -> int:
        return len(self._inflight)

    def restart(self) -> None:
        """A new connection: what was in flight is sent again from the journal, from its oldest row."""
        self._inflight.clear()
        self._held.clear()
        self._sent_upto = 0

    def acknowledged(self, mid: int, reason_code: ReasonCode | None) -> str | None:
        """Record a PUBACK. Returns the broker's reason when it refused the transcript (MQTT 5 only)."""
        row = self._inflight.pop(mid, None)
        if row is None:
            return None  # not a transcript, or one of a previous connection (sent again from the journal)
        if reason_code is not None and reason_code.is_failure:
            self._held.add(row)
            return f"{reason_code.getName()} ({reason_code.value})"
        self._acked.append(row)
        return None

    def flush(self) -> None:
        """Report the acknowledged rows to the journal, all at once."""
        if self._acked:
            rows, self._acked = self._acked, []
            self._queue.mark_delivered(*rows)

    def pump(self) -> None:
        """Hand the next rows to paho until the window is full, nothing waits or the link is down."""
        while len(self._inflight) < WINDOW:
            rows = self._queue.pending(limit=WINDOW - len(self._inflight), after=self._sent_upto)
            if not rows:
                return
            for row in rows:
                if row.row_id in self._held:
                    self._sent_upto = row.row_id
                    continue
                mid = self._publish(row.payload)
                if mid is None:
                    return  # offline: the next connection starts again from the oldest row
                self._sent_upto = row.row_id
                self._inflight[mid] = row.row_id
