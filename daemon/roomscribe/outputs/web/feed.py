"""The live feed: Server-Sent Events, with the meeting so far first, so a page that opens or reconnects
has the whole meeting with no gap and no duplicate.

    GET /api/feed            (EventSource; `Last-Event-ID`, or `?last_event_id=` when the page reconnects itself)

Events: `hello` (everything a page needs to draw: status, stats, the line in flight, names, flags),
`status` (state, speech connection, banner, meeting), `stats`, `partial`, `utterance` (its SSE id is
`<meeting_id>:<seq>`), `speakers`, `notice`, and `ping` every PING_S seconds (a page that hears
nothing for longer knows its connection is dead, even where TCP does not say so).

No gap, no duplicate: the page is subscribed before the archive is read, and an utterance reaches the
hub only once the journal's writer has stored it (or holds it in memory, on a full disk: the read takes
those too; outputs/web/output.py `stored`, outputs/web/history.py). So every utterance is in the archive
read, or arrives live after it, or both; the live copy of one already sent (same meeting, seq not above
the last sent) is dropped. A reconnect names the last utterance it
has: the archive read starts after it. A new meeting (a restart of the daemon makes one) is sent from
its first utterance.
"""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web

from roomscribe.core.records import encode
from roomscribe.outputs.web.hub import FeedClosed, Item

log = logging.getLogger(__name__)

PING_S = 15.0
RETRY_MS = 1000  # EventSource's reconnect delay after the connection dropped
STREAM_HEADERS = {
    "Content-Type": "text/event-stream; charset=utf-8",
    "Cache-Control": "no-store",
    "X-Accel-Buffering": "no",  # a reverse proxy in front must not buffer the stream
    "X-Content-Type-Options": "nosniff",
}


def parse_event_id(text: str | None) -> tuple[str, int] | None:
    """`<meeting_id>:<seq>` -> (meeting_id, seq); anything else -> None (start from the meeting's beginning)."""
    text = (text or "").strip()
    meeting_id, _, seq = text.rpartition(":")
    if not meeting_id or not seq.isdigit() or len(text) > 200:
        return None
    return meeting_id, int(seq)


def event(kind: str, data: dict, event_id: str | None = None) -> bytes:
    """One SSE message; the JSON is on one line (encode() escapes newlines inside strings)."""
    head = f"event: {kind}\n" + (f"id: {event_id}\n" if event_id else "")
    return head.encode() + b"data: " + encode(data) + b"\n\n"


async def stream(request: web.Request, context) -> web.StreamResponse:
    """The SSE handler; `context` is server.Context (hub, history, executor, flags)."""
    hub = context.hub
    last = parse_event_id(request.headers.get("Last-Event-ID") or request.query.get("last_event_id"))
    feed = hub.subscribe()  # before anything is read: whatever happens from now on is queued for this page
    response = web.StreamResponse(headers=STREAM_HEADERS)
    try:
        await response.prepare(request)
        hello = hub.hello(history=context.history is not None, controls=context.tokens.command is not None)
        chunks = [f"retry: {RETRY_MS}\n\n".encode(), event("hello", hello)]
        meeting = hello["status"]["meeting"]
        cursor: tuple[str | None, int] = (None, 0)
        if meeting:
            meeting_id: str = meeting["id"]
            cursor = (meeting_id, last[1] if last and last[0] == meeting_id else 0)
            caught_up, problem = await _catch_up(context, meeting_id, cursor[1])
            for utterance in caught_up:
                cursor = (utterance.meeting_id, utterance.seq)
                chunks.append(event("utterance", utterance.to_payload(), f"{utterance.meeting_id}:{utterance.seq}"))
            if problem:
                chunks.append(event("notice", {"kind": "history_unavailable", "detail": problem}))
        await response.write(b"".join(chunks))
        while True:
            item = await feed.next(PING_S)
            if item is None:
                await response.write(event("ping", {"now": hub.status()["now"]}))
                continue
            if item.kind == "utterance":
                if item.meeting_id == cursor[0] and item.seq <= cursor[1]:
                    continue  # already sent from the archive
                cursor = (item.meeting_id, item.seq)
            await response.write(_message(item))
    except FeedClosed:
        if feed.overflowed:
            log.warning("web: a page fell %d messages behind and was closed; it reconnects and catches up",
                        feed.backlog)
    except ConnectionError:
        pass  # the page went away (a reload, a closed tab, a dropped network)
    finally:
        hub.unsubscribe(feed)
    return response


def _message(item: Item) -> bytes:
    event_id = f"{item.meeting_id}:{item.seq}" if item.kind == "utterance" else None
    return event(item.kind, item.data, event_id)


async def _catch_up(context, meeting_id: str, after_seq: int):
    """(the meeting's utterances after `after_seq` from the archive, a problem text or None)."""
    if context.history is None:
        return [], "the archive is switched off: lines from before this page connected are not shown"
    loop = asyncio.get_running_loop()
    try:
        return await loop.run_in_executor(context.executor, context.history.utterances_after, meeting_id,
                                          after_seq), None
    except Exception as exc:  # noqa: BLE001  (the live part still works; the page says what is missing)
        log.warning("web: the archive could not be read for a page's catch-up: %s: %s", type(exc).__name__, exc)
        return [], f"the archive could not be read ({type(exc).__name__}): earlier lines are missing"
