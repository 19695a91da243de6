"""Catch-up over MQTT, off every loop that matters: one worker thread answers `<base>/request/transcript`.

The MQTT link's routing table sends each request here, on the link's worker thread (`submit`, which
only queues); the `archive-catchup` thread reads the journal through its own read-only connection
(catchup.py does the parsing, paging and error answers) and hands each page back to the link to publish
at QoS 1, never on the owner's loop and never on the link's threads. What it never does: answer a
retained request (a stale question would be answered on every connect), publish to the daemon's own
topics or Home Assistant's (an MQTT 5 response topic there is refused), or queue without bound.
"""

from __future__ import annotations

import logging
import queue
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from roomscribe.outputs.archive import catchup
from roomscribe.outputs.journal.reader import JournalReader

log = logging.getLogger(__name__)

MAX_WAITING = 16  # requests queued at once; beyond that each gets an `unavailable` answer at once
MAX_RESPONSE_TOPIC = 256
_STOP = object()


@dataclass(frozen=True, slots=True)
class Request:
    payload: bytes
    retained: bool = False
    response_topic: str | None = None  # MQTT 5
    correlation_data: bytes | None = None  # MQTT 5


# publish(topic, payload, correlation_data): queues one QoS 1 publish (MqttLink.publish_response)
Publish = Callable[[str, bytes, "bytes | None"], None]


class CatchUpResponder:
    def __init__(self, journal_path: Path | None, *, room: str, base_topic: str, publish: Publish,
                 reserved_prefixes: tuple[str, ...] = (), max_waiting: int = MAX_WAITING):
        """`journal_path` None: the record is not kept (archive.enabled false); every request is told so."""
        self._path = journal_path
        self._room = room
        self._publish = publish
        self.request_topic = catchup.request_topic(base_topic)
        self.response_topic = catchup.response_topic(base_topic)
        # The daemon's own topics and Home Assistant's: never a response topic (its responses excepted).
        self._reserved = (f"{base_topic}/", *reserved_prefixes)
        self._queue: queue.Queue = queue.Queue(maxsize=max_waiting)
        self._thread = threading.Thread(target=self._work, name="archive-catchup", daemon=True)
        self.answered = 0

    def start(self) -> "CatchUpResponder":
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        if self._thread.is_alive():
            try:
                self._queue.put(_STOP, timeout=timeout)
            except queue.Full:
                pass
            self._thread.join(timeout)

    # -- the link's worker thread: queue only -------------------------------------------------------------

    def submit(self, payload: bytes, *, retained: bool = False, response_topic: str | None = None,
               correlation_data: bytes | None = None) -> None:
        """For MqttLink.add_request_handler: called on the link's worker thread, only queues."""
        request = Request(payload, retained, response_topic, correlation_data)
        if request.retained:
            log.info("ignored a retained catch-up request on %s (%d bytes)", self.request_topic, len(request.payload))
            return
        try:
            self._queue.put_nowait(request)
        except queue.Full:
            log.warning("catch-up: %d requests wait already; answering this one `unavailable`", self._queue.maxsize)
            busy = catchup.error_page(self._room, None, "unavailable", "too many requests at once; ask again")
            self._answer(request, [busy])

    # -- the worker ----------------------------------------------------------------------------

    def _work(self) -> None:
        while True:
            request = self._queue.get()
            if request is _STOP:
                return
            try:
                self._answer(request, self._pages(request))
            except Exception:  # noqa: BLE001  (the thread must outlive any one request)
                log.exception("catch-up request failed")

    def _pages(self, request: Request) -> list[bytes]:
        if self._path is None:
            return catchup.handle_request(request.payload, None, room=self._room)
        try:
            store = JournalReader(self._path)
        except Exception as exc:  # noqa: BLE001  (locked, corrupt, not a journal: the answer says so)
            log.warning("catch-up: the journal %s cannot be read: %s", self._path, exc)
            return [catchup.error_page(self._room, catchup.request_id_of(request.payload), "unavailable",
                                   f"the journal could not be read: {type(exc).__name__}")]
        try:
            return catchup.handle_request(request.payload, store, room=self._room)
        finally:
            store.close()

    def _answer(self, request: Request, pages: list[bytes]) -> None:
        topic = self.response_topic
        if request.response_topic is None and (own := catchup.reply_to(request.payload)) is not None:
            topic = f"{self.response_topic}/{own}"  # the asker's own topic (an ACL `pattern` with %c)
        if request.response_topic is not None:
            problem = self._response_topic_problem(request.response_topic)
            if problem is None:
                topic = request.response_topic
            else:
                request_id = catchup.request_id_of(request.payload)
                pages = [catchup.error_page(self._room, request_id, "bad_request", problem)]
        for page in pages:
            self._publish(topic, page, request.correlation_data)
        self.answered += 1

    def _response_topic_problem(self, topic: str) -> str | None:
        if not topic or len(topic) > MAX_RESPONSE_TOPIC or any(c in topic for c in "#+\0"):
            return "the response topic must be 1 to 256 characters without wildcards"
        if topic.startswith(self._reserved) and not topic.startswith(self.response_topic):
            return "the response topic must not be one of the daemon's or Home Assistant's topics"
        return None

