"""The way out of one USP connection: replies queued with the time they may leave, written in order.

Each reply waits for the one-way network delay (and a result the result-delay fault) but never overtakes
one queued before it; a close travels behind the replies queued before it. Once a reply is on the wire, the
record learns of it, with the audio it acknowledges and the phrase it carries. A muted sender (the
black-hole fault) lets nothing leave, not even a close.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, replace
from typing import Callable

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from roomscribe.emulator import usp
from roomscribe.emulator.faults import FaultState
from roomscribe.emulator.record import Record, RecordedPhrase, SentMessage

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Send:
    due: float  # monotonic time before which it must not leave
    message: usp.Outgoing | None = None
    phrase: RecordedPhrase | None = None
    acknowledges: tuple[str, int] | None = None  # (audio session, stream bytes) the SDK may free once sent
    close: tuple[int, str] | None = None


class Sender:
    """One connection's queue of replies and its writer task (`run`); all of it on the event loop."""

    def __init__(self, ws: ServerConnection, connection_id: int, faults: FaultState, record: Record,
                 on_phrase: Callable[[RecordedPhrase], None]):
        self._ws = ws
        self._id = connection_id
        self._faults = faults
        self._record = record
        self._on_phrase = on_phrase  # a phrase is on the wire (the server tells its listener)
        self._queue: asyncio.Queue[Send] = asyncio.Queue()
        self._closing = False
        self._close_sent: tuple[int, str] | None = None
        self._muted = False  # a black hole: what is queued or comes later never leaves

    @property
    def closing(self) -> bool:
        """A close is queued: the connection is ending from the service's side."""
        return self._closing

    @property
    def close_sent(self) -> tuple[int, str] | None:
        """The code and reason of the close the service sent, once sent."""
        return self._close_sent

    def send(self, message: usp.Outgoing, *, result: bool = False, phrase: RecordedPhrase | None = None,
             acknowledges: tuple[str, int] | None = None) -> None:
        """Queue a reply; a `result` also waits for the result-delay fault. `acknowledges`: (audio session,
        stream bytes) the SDK may free once it is sent."""
        delay = self._faults.network.one_way_seconds + (self._faults.result_delay if result else 0.0)
        self._queue.put_nowait(Send(time.monotonic() + delay, message=message, phrase=phrase,
                                    acknowledges=acknowledges))

    def close(self, code: int, reason: str) -> None:
        """Close behind what is queued, after the one-way delay; only the first close counts."""
        if self._closing:
            return
        self._closing = True
        due = time.monotonic() + self._faults.network.one_way_seconds
        self._queue.put_nowait(Send(due, close=(code, reason)))

    def mute(self) -> None:
        """Send nothing more on this socket, not even a close (the connection's black-hole fault)."""
        self._muted = True

    async def run(self) -> None:
        while True:
            item = await self._queue.get()
            wait = item.due - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            if self._muted:
                continue  # not even a close gets through a black hole
            if item.close is not None:
                code, reason = item.close
                log.info("connection %d: closing with %d %r", self._id, code, reason)
                self._close_sent = (code, reason)
                await self._ws.close(code, reason)
                return
            message = item.message
            headers = message.headers()
            try:
                await self._ws.send(usp.encode_text(headers, message.body))
            except ConnectionClosed:
                return
            except Exception:
                log.exception("connection %d: sending %s failed", self._id, message.path)
                self._close_sent = (1011, "Internal server error")
                await self._ws.close(*self._close_sent)
                return
            sent_at = time.time()
            self._record.add_sent(SentMessage(self._id, message.path, headers, message.body, sent_at))
            if item.acknowledges is not None:
                self._record.set_acknowledged(*item.acknowledges)
            if item.phrase is not None:
                phrase = replace(item.phrase, sent_at=sent_at)
                self._record.add_phrase(phrase)
                self._on_phrase(phrase)
