"""Transcripts from the outbox to the broker: in outbox order, at most WINDOW unacknowledged at a time.

Used by the MQTT link's worker thread only (no locking here). A row leaves the outbox when its PUBACK
arrives; acknowledgements are written in batches, one transaction per batch of jobs.
"""

from __future__ import annotations

import logging
import sqlite3
from typing import Callable

from roomscribe.outputs.mqtt.outbox import Outbox

log = logging.getLogger(__name__)

WINDOW = 50  # transcripts handed to paho and not yet acknowledged


class TranscriptDelivery:
    def __init__(self, outbox: Outbox, publish: Callable[[bytes], int | None]):
        """`publish(payload)` sends one transcript at QoS 1 and returns paho's mid, or None when offline."""
        self._outbox = outbox
        self._publish = publish
        self._inflight: dict[int, int] = {}  # paho mid -> outbox row
        self._sent_upto = 0  # the last outbox row handed to paho on this connection
        self._held: set[int] = set()  # rows the broker refused (MQTT 5); tried again on the next connect
        self._acked: list[int] = []

    @property
    def in_flight(self) -> int:
        return len(self._inflight)

    def restart(self) -> None:
        """A new connection: what was in flight is sent again from the outbox, from its oldest row."""
        self._inflight.clear()
        self._held.clear()
        self._sent_upto = 0

    def acknowledged(self, mid: int, reason_code) -> str | None:
        """Record a PUBACK. Returns the broker's reason when it refused the transcript (MQTT 5 only)."""
        row = self._inflight.pop(mid, None)
        if row is None:
            return None  # not a transcript, or one of a previous connection (sent again from the outbox)
        if reason_code is not None and reason_code.is_failure:
            self._held.add(row)
            return f"{reason_code.getName()} ({reason_code.value})"
        self._acked.append(row)
        return None

    def flush(self) -> None:
        """Forget the acknowledged rows, in one transaction."""
        if not self._acked:
            return
        rows, self._acked = self._acked, []
        try:
            self._outbox.mark_delivered(*rows)
        except sqlite3.Error as exc:
            log.error("outbox: could not mark %d utterances delivered (%s); they may be delivered again", len(rows), exc)

    def pump(self) -> None:
        """Hand the next rows to paho until the window is full, the outbox empty or the link down."""
        while len(self._inflight) < WINDOW:
            try:
                rows = self._outbox.pending(limit=WINDOW - len(self._inflight), after=self._sent_upto)
            except sqlite3.Error as exc:
                log.error("outbox: cannot read pending utterances: %s", exc)
                return
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
