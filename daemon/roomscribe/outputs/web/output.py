"""The page as one of the owner's outputs: records in, an aiohttp server on a thread of its own.

Every `Output` method is called on the owner's loop and only hands the record to the server's loop with
`call_soon_threadsafe`: it never waits for the server, a page or the disk. Final utterances come from
the journal's writer instead, once stored (`stored`), as the MQTT link's do: a page that opens reads the
meeting so far from the journal, and gets what is stored after that live. The server's loop is made in `start()`, before the thread runs, so records that come before
it listens are queued, not lost. If the address cannot be bound (a port in use), the daemon logs it and
transcribes on without the page: the page is not a reason to stop.

The address is bound at start, but aiohttp (about 12 MB of the daemon's memory, docs/BENCHMARKS.md) is
imported only when the first connection arrives: a room whose page nobody opens does not pay for it.
That first connection is handed to aiohttp's server as it is, and the listening socket with it.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

from roomscribe.core.records import AudioStats, Event, Partial, SpeakerMap, StateMessage, Utterance
from roomscribe.outputs.mqtt.commands import Command
from roomscribe.outputs.web.auth import Tokens
from roomscribe.outputs.web.history import MeetingHistory
from roomscribe.outputs.web.hub import LiveHub

log = logging.getLogger(__name__)

SHUTDOWN_S = 2.0  # open feeds are told to end first; this is only for requests still running
COMMAND_ANSWER_S = 10.0  # a page's command waits this long for the state (or refusal) that answers it
BACKLOG = 128


class WebOutput:
    def __init__(self, *, room: str, host: str, port: int, tokens: Tokens, history: MeetingHistory | None,
                 command_answer_s: float = COMMAND_ANSWER_S):
        self.host = host
        self.port = port
        self.listening = threading.Event()  # set once the address is bound (aiohttp loads on the first visit)
        self.failed: str | None = None  # why it does not, if it could not start
        self._room = room
        self._tokens = tokens
        self._history = history
        self._command_answer_s = command_answer_s
        self._on_command: Callable[[Command], None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self._executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="web-archive")
        self.hub = LiveHub(room)
        self._context = None  # server.Context, once aiohttp is loaded

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"

    def set_command_handler(self, handler: Callable[[Command], None]) -> None:
        """The owner's command channel (Daemon.on_command), as the MQTT link gets it."""
        self._on_command = handler
        if self._context is not None:
            self._context.on_command = handler

    # -- Output --------------------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None:
            return
        self._loop = asyncio.new_event_loop()
        self._stop = asyncio.Event()
        self._thread = threading.Thread(target=self._run, name="web", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        if self._thread is None:
            return
        self._hand(self._stop.set)
        self._thread.join(timeout)
        if self._thread.is_alive():
            log.error("web: the page's server did not stop within %.0f s", timeout)
        self._executor.shutdown(wait=False, cancel_futures=True)

    def publish_state(self, msg: StateMessage) -> None:
        self._hand(self.hub.state, msg)

    def publish_event(self, event: Event) -> None:
        self._hand(self.hub.event, event)

    def publish_partial(self, partial: Partial) -> None:
        self._hand(self.hub.partial, partial)

    def submit_transcript(self, utt: Utterance) -> None:
        """Nothing: a final utterance reaches the page from the journal, once stored (`stored`)."""

    def stored(self, utterances: list[Utterance]) -> None:
        """Utterances the journal has just stored, or holds in memory while the disk refuses them, in order
        (JournalWriter.on_utterances, on the writer's thread). A page reads the meeting so far from the same
        journal when it opens, so every utterance is in that read or comes after it: no gap."""
        self._hand(self.hub.utterances, utterances)

    def set_speech_connected(self, value: str) -> None:
        self._hand(self.hub.speech_connection, value)

    def publish_stats(self, stats: AudioStats) -> None:
        self._hand(self.hub.stats, stats)

    def publish_speakers(self, speakers: SpeakerMap) -> None:
        """A meeting's voices and their names: the page shows the names in place of the labels (the running
        meeting's live, a past one's where a page has it open)."""
        if speakers.meeting_id:
            self._hand(self.hub.speakers, speakers.meeting_id, speakers.names(), speakers.running)

    # -- the server's thread -------------------------------------------------------------------

    def _hand(self, call: Callable, *args: Any) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return  # not started, or stopped: the page is gone
        try:
            loop.call_soon_threadsafe(call, *args)
        except RuntimeError:
            pass  # closed between the check and the call

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._serve())
        except Exception:  # noqa: BLE001  (the page failing must not take the daemon down)
            log.exception("web: the page's server failed")
        finally:
            self._loop.close()

    async def _serve(self) -> None:
        try:
            listener = _listen(self.host, self.port)
        except OSError as exc:
            self.failed = f"{type(exc).__name__}: {exc.strerror or exc}"
            log.error("web: the live page cannot listen on %s:%d (%s); transcribing without it. Set web.port "
                      "to a free port, or web.enabled: false", self.host, self.port, self.failed)
            return
        log.info("web: the live page is at %s", self.url)
        self.listening.set()
        try:
            first = await self._first_connection(listener)
            if first is not None:
                await self._serve_with_aiohttp(listener, first)
        finally:
            listener.close()

    async def _first_connection(self, listener: socket.socket) -> socket.socket | None:
        """The first connection to the page, or None if the daemon stops before anyone came."""
        loop = asyncio.get_running_loop()
        accept = asyncio.ensure_future(loop.sock_accept(listener))
        stop = asyncio.ensure_future(self._stop.wait())
        await asyncio.wait({accept, stop}, return_when=asyncio.FIRST_COMPLETED)
        stop.cancel()
        if not accept.done():
            accept.cancel()
            return None
        return accept.result()[0]

    async def _serve_with_aiohttp(self, listener: socket.socket, first: socket.socket) -> None:
        from aiohttp import web

        from roomscribe.outputs.web.server import Context, build_app

        self._context = Context(hub=self.hub, history=self._history, tokens=self._tokens, executor=self._executor,
                                on_command=self._on_command, command_answer_s=self._command_answer_s,
                                room=self._room)
        runner = web.AppRunner(build_app(self._context), access_log=None, shutdown_timeout=SHUTDOWN_S)
        await runner.setup()
        try:
            await asyncio.get_running_loop().connect_accepted_socket(runner.server, first)
            await web.SockSite(runner, listener).start()
            await self._stop.wait()
            self.hub.close_all()  # open feeds end now, so the runner need not wait for them
        finally:
            await runner.cleanup()


def _listen(host: str, port: int) -> socket.socket:
    """A listening socket on the first address `host` resolves to (SO_REUSEADDR, as aiohttp's would be)."""
    family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                                         flags=socket.AI_PASSIVE)[0]
    listener = socket.socket(family, kind, proto)
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(address)
        listener.listen(BACKLOG)
        listener.setblocking(False)
    except OSError:
        listener.close()
        raise
    return listener
