"""The Speech service emulator: a USP WebSocket server that the real Speech SDK connects to.

One asyncio server (websockets): it checks each upgrade (path, key, refusal faults), hands accepted sockets
to a `Connection` (connection.py), and keeps the diarization sessions (speaker labels and what was already
answered) keyed by the SDK's audioSessionId, so they outlive connections, as the service's do.
`EmulatorThread` (thread.py, re-exported here) runs it on a background thread.
docs/emulator.md describes the behaviour; /work/shared/usp-protocol.md the protocol it follows.
"""

from __future__ import annotations

import asyncio
import logging
import time
from http import HTTPStatus
from typing import Any, Callable
from urllib.parse import urlsplit

from websockets.asyncio.server import ServerConnection, serve

from roomscribe.emulator.connection import Connection
from roomscribe.emulator.turns import DiarizationSession
from roomscribe.emulator.faults import IDLE_CLOSE_CODE, IDLE_CLOSE_REASON, FaultPlan, FaultState
from roomscribe.emulator.record import Record, RecordedPhrase

__all__ = ["SPEECH_PATH", "DiarizationSession", "Emulator"]

log = logging.getLogger(__name__)

SPEECH_PATH = "/speech/universal/v2"


class Emulator:
    """The server. Start and stop it on an event loop; its fault methods may be called from any thread."""

    def __init__(self, plan: FaultPlan | None = None, *, key: str | None = None, host: str = "127.0.0.1",
                 port: int = 0, record: Record | None = None,
                 on_phrase: Callable[[RecordedPhrase], None] | None = None):
        self.faults = FaultState(plan or FaultPlan())
        self.record = record if record is not None else Record()
        self.key = key
        self.host = host
        self._requested_port = port
        self._on_phrase = on_phrase
        self._server = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._connections: dict[int, Connection] = {}
        self._accepted = 0
        self._sessions: dict[str, DiarizationSession] = {}

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the emulator is not running")
        return self._server.sockets[0].getsockname()[1]

    @property
    def host_url(self) -> str:
        return f"ws://{self.host}:{self.port}"

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._server = await serve(
            self._handle,
            self.host,
            self._requested_port,
            process_request=self._process_request,
            select_subprotocol=lambda connection, offered: "USP" if "USP" in offered else None,
            compression=None,
            ping_interval=None,  # the SDK sends no pings and the service needs none from here
            max_size=None,
            open_timeout=None,  # the handshake delay fault may hold an upgrade for long
            close_timeout=5,
        )
        log.info("speech emulator listening on %s", self.host_url)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def diarization_session(self, audio_session_id: str) -> DiarizationSession:
        if audio_session_id not in self._sessions:
            self._sessions[audio_session_id] = DiarizationSession(audio_session_id)
        return self._sessions[audio_session_id]

    def phrase_sent(self, phrase: RecordedPhrase) -> None:
        if self._on_phrase is not None:
            try:
                self._on_phrase(phrase)
            except Exception:
                log.exception("on_phrase callback failed", extra={"callback_guard": True})

    # -- runtime faults (any thread) ------------------------------------------------------------------

    def close_connections(self, code: int = 1000, reason: str = "", after: float = 0.0) -> None:
        """Close every open connection, now or `after` seconds from now, with this code and reason."""
        self._in_loop(lambda: [c.close_later(after, code, reason) for c in self._connections.values()])

    def close_idle(self, after: float = 0.0) -> None:
        """The real service's idle close: 1000, "Exceeded maximum websocket connection idle duration(> 300000ms)"."""
        self.close_connections(IDLE_CLOSE_CODE, IDLE_CLOSE_REASON, after)

    def mute_connections(self) -> None:
        """Turn every open connection into a black hole (a NAT that dropped the flow): nothing sent on it is
        received, nothing is sent back, not even a close. New connections work."""
        self._in_loop(lambda: [c.mute() for c in self._connections.values()])

    def end_turns(self) -> None:
        """End the current turn of every connection from the service side (speech.endDetected + turn.end)."""
        self._in_loop(lambda: [c.end_turn_now() for c in self._connections.values()])

    def _in_loop(self, action: Callable[[], Any]) -> None:
        if self._loop is None:
            raise RuntimeError("the emulator is not running")
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self._loop:
            action()
        else:
            self._loop.call_soon_threadsafe(action)

    # -- connections ----------------------------------------------------------------------------------

    async def _process_request(self, connection: ServerConnection, request):
        handshake_delay = self.faults.network.handshake_seconds
        if handshake_delay > 0:
            await asyncio.sleep(handshake_delay)
        status = None
        if urlsplit(request.path).path != SPEECH_PATH:
            status = HTTPStatus.NOT_FOUND
        elif self.key is not None and request.headers.get("Ocp-Apim-Subscription-Key") != self.key:
            status = HTTPStatus.UNAUTHORIZED
        else:
            refusal = self.faults.take_refusal()
            status = HTTPStatus(refusal) if refusal is not None else None
        if status is None:
            return None
        now = time.time()
        connection_id = self.record.open_connection(request.path, list(request.headers.raw_items()), status, now)
        self.record.close_connection(connection_id, code=None, reason=status.phrase, by="service", at=now)
        log.info("refused an upgrade to %s with HTTP %d", request.path, status)
        return connection.respond(status, f"{status.phrase}\n")

    async def _handle(self, ws: ServerConnection) -> None:
        headers = list(ws.request.headers.raw_items())
        connection_id = self.record.open_connection(ws.request.path, headers, 101, time.time())
        connection = Connection(self, ws, connection_id, self._accepted)
        self._accepted += 1
        self._connections[connection_id] = connection
        log.info("connection %d open: %s", connection_id, ws.request.path)
        try:
            await connection.run()
        except Exception:
            log.exception("connection %d failed", connection_id)
        finally:
            del self._connections[connection_id]
