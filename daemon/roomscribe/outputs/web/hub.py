"""The page's live picture and its open feeds, kept on the web server's loop (one thread, no locks).

`WebOutput` (output.py) hands each of the owner's records here with `call_soon_threadsafe`; every open
page holds a `Feed`, a bounded queue of what to send it. A page that cannot keep up (its queue full)
is closed rather than allowed to grow memory: its browser reconnects with `Last-Event-ID` and catches up
from the archive, so closing it loses nothing. A command from the page waits for its answer here: the
first state carrying its request_id (a name: the `speaker_named` event), or the `command_refused` event
that names it.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any, Callable

from roomscribe.core.records import AudioStats, Event, Partial, StateMessage, Utterance
from roomscribe.outputs.web.banner import banner

FEED_BACKLOG = 2000  # items waiting for one page; beyond it the page is closed (it reconnects and catches up)
QUIET_STATES = ("idle",)  # no meeting: no line is being spoken


@dataclass(frozen=True, slots=True)
class Item:
    """One message for the pages: an SSE event name and its JSON data; utterances carry their identity."""

    kind: str  # status, stats, partial, utterance, speakers
    data: dict
    meeting_id: str | None = None
    seq: int | None = None


class Feed:
    """What one open page has still to be sent."""

    def __init__(self, backlog: int = FEED_BACKLOG):
        self._queue: asyncio.Queue[Item | None] = asyncio.Queue(maxsize=backlog + 1)  # +1: the close
        self.backlog = backlog
        self.closed = False
        self.overflowed = False

    def offer(self, item: Item) -> None:
        if self.closed:
            return
        if self._queue.qsize() >= self.backlog:
            self.overflowed = True
            self.close()
            return
        self._queue.put_nowait(item)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._queue.put_nowait(None)

    async def next(self, timeout: float) -> Item | None:
        """The next item; None when nothing came within `timeout`. Raises FeedClosed once closed and drained."""
        try:
            item = await asyncio.wait_for(self._queue.get(), timeout)
        except asyncio.TimeoutError:
            return None
        if item is None:
            raise FeedClosed("overflowed" if self.overflowed else "closed")
        return item


class FeedClosed(Exception):
    pass


class LiveHub:
    def __init__(self, room: str, *, clock: Callable[[], float] = time.time, backlog: int = FEED_BACKLOG):
        self.room = room
        self._clock = clock
        self._backlog = backlog
        self._state: dict | None = None
        self._speech: str = "disconnected"
        self._stats: dict | None = None
        self._partial: dict | None = None
        self._meeting_starts: dict[str, float] = {}
        self._speakers: dict[str, list[dict]] = {}  # meeting_id -> [{speaker_epoch, speaker, name}]
        self._feeds: set[Feed] = set()
        self._waiting: dict[str, asyncio.Future] = {}

    # -- the owner's records (on the server's loop) ---------------------------------------------

    def state(self, msg: StateMessage) -> None:
        self._state = msg.to_payload()
        if msg.state in QUIET_STATES:
            self._partial = None
        self._answer(msg.request_id, "state", self._state)
        self._send(Item("status", self.status()))

    def speech_connection(self, value: Any) -> None:
        """The Output's value: connected, stalled or disconnected (core/records.py); a bool is taken as the
        first or the last, anything else is kept as said."""
        self._speech = ("connected" if value else "disconnected") if isinstance(value, bool) else str(value)
        self._send(Item("status", self.status()))

    def event(self, event: Event) -> None:
        detail = event.detail if isinstance(event.detail, dict) else {}
        if event.kind == "meeting_started" and detail.get("meeting_id"):
            self._meeting_starts = {detail["meeting_id"]: event.at}  # only the running meeting's start is needed
            self._send(Item("status", self.status()))
        elif event.kind == "command_refused":
            self._answer(event.request_id, "refused", event.to_payload())
        elif event.kind == "speaker_named":
            self._answer(event.request_id, "named", event.to_payload())

    def partial(self, partial: Partial) -> None:
        self._partial = partial.to_payload()
        self._send(Item("partial", self._partial, partial.meeting_id))

    def utterance(self, utterance: Any) -> None:
        """A final utterance (records.Utterance, or anything with meeting_id, seq and to_payload())."""
        self._partial = None
        self._send(Item("utterance", utterance.to_payload(), utterance.meeting_id, utterance.seq))

    def utterances(self, utterances: list) -> None:
        """Final utterances as the journal stored them, in order."""
        for utterance in utterances:
            self.utterance(utterance)

    def stats(self, stats: AudioStats) -> None:
        self._stats = stats.to_payload()
        self._send(Item("stats", self._stats))

    def speakers(self, meeting_id: str, names: list[dict], running: bool = True) -> None:
        """A meeting's voices and the names given them: [{"speaker_epoch", "speaker", "name"}] (name None: a
        voice without one). The running meeting's are kept for the pages that open later."""
        if running:
            self._speakers = {meeting_id: names}
        self._send(Item("speakers", {"meeting_id": meeting_id, "speakers": names}, meeting_id))

    # -- what a page is sent ---------------------------------------------------------------------

    def status(self) -> dict:
        meeting_id = self._state.get("meeting_id") if self._state else None
        meeting = None if not meeting_id else {"id": meeting_id, "start": self._meeting_starts.get(meeting_id)}
        return {"state": self._state, "speech_connection": self._speech, "banner": banner(self._state, self._speech),
                "meeting": meeting, "now": self._clock()}

    def hello(self, **flags: Any) -> dict:
        """The whole picture for a page that (re)connects: status, stats, the line in flight, names."""
        status = self.status()
        meeting_id = status["meeting"]["id"] if status["meeting"] else None
        partial = self._partial if self._partial and self._partial.get("meeting_id") == meeting_id else None
        return {"room": self.room, "status": status, "stats": self._stats, "partial": partial,
                "speakers": self._speakers.get(meeting_id, []) if meeting_id else [], **flags}

    def subscribe(self) -> Feed:
        feed = Feed(self._backlog)
        self._feeds.add(feed)
        return feed

    def unsubscribe(self, feed: Feed) -> None:
        self._feeds.discard(feed)

    @property
    def feeds(self) -> int:
        return len(self._feeds)

    def close_all(self) -> None:
        for feed in list(self._feeds):
            feed.close()

    # -- commands from the page ------------------------------------------------------------------

    def expect(self, request_id: str) -> asyncio.Future:
        """A future for the answer to the command with this request_id: ("state"|"refused", payload)."""
        future = asyncio.get_running_loop().create_future()
        self._waiting[request_id] = future
        return future

    def forget(self, request_id: str) -> None:
        self._waiting.pop(request_id, None)

    def _answer(self, request_id: str | None, kind: str, payload: dict) -> None:
        future = self._waiting.pop(request_id, None) if request_id else None
        if future is not None and not future.done():
            future.set_result((kind, payload))

    def _send(self, item: Item) -> None:
        for feed in list(self._feeds):
            feed.offer(item)
            if feed.closed:
                self._feeds.discard(feed)
