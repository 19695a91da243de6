"""Catch-up for late dashboards: `<base>/request/transcript` answered on `<base>/response/transcript`.

A request (schemas/transcript_request.schema.json), every key optional:
    {"meeting_id": "current"|"last"|ID|ID-prefix, "since_seq": N, "request_id": "…", "reply_to": "…"}
is answered by one or more pages (schemas/transcript_response.schema.json), each under `page_bytes`:
    {"status": "ok", "request_id", "room", "meeting_id", "running", "since_seq", "next_since_seq",
     "more", "utterances": [transcript payloads with seq > since_seq, in seq order]}
At most `max_utterances` are sent per request; `more: true` on the last page says "ask again with
since_seq = next_since_seq". A bad request gets one error page, `{"status": "error", "request_id",
"room", "error": {"code", "message"}}`; `handle_request` never raises.

Pure apart from reading the record through `TranscriptSource` (outputs/journal/reader.py's JournalReader).
The JSON is read by the one parser of inbound MQTT payloads (outputs/mqtt/payloads.py), as commands are.
The reads touch the disk: the integrator calls this off the asyncio loop (an executor), ignores
retained requests, and publishes the pages to the MQTT 5 response topic with the correlation data when
the request carried them, else to `<base>/response/transcript/<reply_to>` when the request names one
(a read-only dashboard's own topic: the shipped Mosquitto ACL lets each client read only the one named
after its client id), else to `<base>/response/transcript`.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Protocol

from roomscribe.core.records import encode
from roomscribe.outputs.archive.meetings import AmbiguousMeeting, Meeting, UnknownMeeting
from roomscribe.outputs.mqtt.payloads import (
    PayloadRejected,
    check_size,
    identifier,
    is_empty,
    parse_json,
    parse_object,
)

log = logging.getLogger(__name__)

MAX_REQUEST_BYTES = 4096
MAX_SEQ = 2**53 - 1  # the largest integer every JSON reader keeps exactly
DEFAULT_PAGE_BYTES = 16 * 1024
MIN_PAGE_BYTES = 1024
DEFAULT_MAX_UTTERANCES = 500
_KEYS = {"meeting_id", "since_seq", "request_id", "reply_to"}
_FORBIDDEN_IN_TOPIC_LEVEL = re.compile("[\u0000-\u001f\u007f\ud800-\udfff/+#]")
_ENVELOPE_SLACK = 48  # room for next_since_seq's digits and "false" when estimating a page


def request_topic(base: str) -> str:
    return f"{base}/request/transcript"


def response_topic(base: str) -> str:
    return f"{base}/response/transcript"


class TranscriptSource(Protocol):
    def resolve(self, reference: str) -> str: ...

    def meeting(self, meeting_id: str) -> Meeting | None: ...

    def payloads(self, meeting_id: str, after_seq: int = 0, limit: int | None = None) -> list[tuple[int, bytes]]:
        """(seq, the transcript payload exactly as it was published), in seq order."""


@dataclass(frozen=True, slots=True)
class TranscriptRequest:
    meeting_id: str = "current"
    since_seq: int = 0
    request_id: str | None = None
    reply_to: str | None = None  # answer on <response topic>/<reply_to>: one topic level, the asker's own


# A request that is refused with a `bad_request` answer: the one parser's refusal (outputs/mqtt/payloads.py).
BadRequest = PayloadRejected


def parse_request(payload: bytes) -> TranscriptRequest:
    """The request in a payload, or BadRequest; refuses by size before parsing anything."""
    check_size(payload, MAX_REQUEST_BYTES)
    if is_empty(payload):
        return TranscriptRequest()
    document, request_id = parse_object(payload, _KEYS, limit=MAX_REQUEST_BYTES)
    meeting_id = identifier(document, "meeting_id", request_id=request_id) or "current"
    reply_to = identifier(document, "reply_to", request_id=request_id)
    if reply_to is not None and _FORBIDDEN_IN_TOPIC_LEVEL.search(reply_to):
        raise BadRequest("reply_to must be one topic level: no '/', '+' or '#'", request_id)
    since_seq = document.get("since_seq", 0)
    if isinstance(since_seq, float) and since_seq.is_integer():
        since_seq = int(since_seq)  # JSON Schema counts 3.0 as an integer; so do we
    if type(since_seq) is not int:  # noqa: E721  (bool is an int subclass, and not a number in JSON)
        raise BadRequest(f"since_seq must be an integer, not {type(since_seq).__name__}", request_id)
    if not 0 <= since_seq <= MAX_SEQ:
        raise BadRequest(f"since_seq must be between 0 and {MAX_SEQ}", request_id)
    return TranscriptRequest(meeting_id, since_seq, request_id, reply_to)


def reply_to(payload: bytes) -> str | None:
    """The `reply_to` a request asks to be answered on, if it names a valid one (even when the rest of the
    request is bad, so that its error reaches the asker); never raises."""
    try:
        document = parse_json(payload, limit=MAX_REQUEST_BYTES)
        value = identifier(document, "reply_to") if isinstance(document, dict) else None
    except PayloadRejected:
        return None
    return None if value is None or _FORBIDDEN_IN_TOPIC_LEVEL.search(value) else value


def request_id_of(payload: bytes) -> str | None:
    """The request_id of a request answered without being parsed through (best effort, never raises)."""
    try:
        return parse_request(payload).request_id
    except PayloadRejected as exc:
        return exc.request_id


def handle_request(
    payload: bytes,
    source: TranscriptSource | None,
    *,
    room: str,
    page_bytes: int = DEFAULT_PAGE_BYTES,
    max_utterances: int = DEFAULT_MAX_UTTERANCES,
) -> list[bytes]:
    """The response pages for one request payload: at least one, never an exception.

    `source` None means the record is switched off (archive.enabled false).
    """
    request_id = None
    try:
        request = parse_request(payload)
        request_id = request.request_id
        if source is None:
            return [error_page(room, request_id, "unavailable", "the archive is switched off on this device")]
        return _pages(request, source, room, max(page_bytes, MIN_PAGE_BYTES), max(1, max_utterances))
    except BadRequest as exc:
        return [error_page(room, exc.request_id, "bad_request", exc.reason)]
    except UnknownMeeting as exc:
        return [error_page(room, request_id, "unknown_meeting", str(exc))]
    except AmbiguousMeeting as exc:
        return [error_page(room, request_id, "ambiguous_meeting", str(exc))]
    except Exception as exc:  # noqa: BLE001  (a failing journal must not take the link down)
        log.exception("catch-up request failed")
        return [error_page(room, request_id, "unavailable", f"the journal could not be read: {type(exc).__name__}")]


def _pages(request: TranscriptRequest, source: TranscriptSource, room: str, page_bytes: int,
           max_utterances: int) -> list[bytes]:
    meeting_id = source.resolve(request.meeting_id)
    meeting = source.meeting(meeting_id)
    running = meeting is not None and meeting.running
    found = source.payloads(meeting_id, after_seq=request.since_seq, limit=max_utterances + 1)
    more_later = len(found) > max_utterances
    items = found[:max_utterances]

    def envelope(since: int, next_since: int, more: bool) -> bytes:
        return encode({
            "status": "ok", "request_id": request.request_id, "room": room, "meeting_id": meeting_id,
            "running": running, "since_seq": since, "next_since_seq": next_since, "more": more, "utterances": [],
        })

    pages: list[bytes] = []
    since = request.since_seq
    start = 0
    while True:
        budget = page_bytes - len(envelope(since, since, False)) - _ENVELOPE_SLACK
        end, used = start, 0
        while end < len(items) and (end == start or used + len(items[end][1]) + 1 <= budget):
            used += len(items[end][1]) + 1  # an oversized utterance still goes out, alone on its page
            end += 1
        last = end == len(items)
        next_since = items[end - 1][0] if end > start else since
        head = envelope(since, next_since, more_later if last else True)
        pages.append(head[:-2] + b",".join(body for _, body in items[start:end]) + b"]}")
        if last:
            return pages
        since, start = next_since, end


def error_page(room: str, request_id: str | None, code: str, message: str) -> bytes:
    """The one page of an error answer (`bad_request`, `unknown_meeting`, `ambiguous_meeting`, `unavailable`)."""
    return encode({"status": "error", "request_id": request_id, "room": room,
                   "error": {"code": code, "message": message[:500]}})

