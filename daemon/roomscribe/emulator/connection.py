"""One accepted USP connection: its turns, the tone recognizer's answers, acknowledgements and delayed replies.

A reader stamps frames on arrival and a handler takes them after the one-way network delay; turns run the
tone recognizer, and a sender writes the replies in order after their delays. What outlives a connection
(diarization sessions, the record, the faults) belongs to the server, reached through `ConnectionHost`.
docs/emulator.md describes the behaviour; /work/shared/usp-protocol.md the protocol it follows.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from dataclasses import replace
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from roomscribe.core.audio_format import SAMPLE_RATE
from roomscribe.emulator import usp
from roomscribe.emulator.answers import TurnAnswers
from roomscribe.emulator.faults import CYCLE_CLOSE_CODE, CYCLE_CLOSE_REASON, IDLE_CLOSE_CODE, IDLE_CLOSE_REASON
from roomscribe.emulator.intake import AudioIntake
from roomscribe.emulator.record import ReceivedMessage, SentMessage, TurnRecord
from roomscribe.emulator.recognizer import ToneRecognizer
from roomscribe.emulator.turns import (
    SAMPLES_PER_MS,
    ConnectionHost,
    Send,
    Turn,
    segmentation_ms,
    ticks,
    turn_base,
)

log = logging.getLogger(__name__)

class Connection(AudioIntake, TurnAnswers):
    """One accepted WebSocket: its turns, its timers and its ordered, delayed replies."""

    def __init__(self, server: ConnectionHost, ws: ServerConnection, connection_id: int, ordinal: int):
        self.server = server
        self.faults = server.faults
        self.record = server.record
        self.ws = ws
        self.id = connection_id
        self.ordinal = ordinal  # 0 for the first accepted connection
        query = parse_qs(urlsplit(ws.request.path).query)
        self.language = (query.get("language") or [None])[0]
        self.connection_header = ws.request.headers.get("X-ConnectionId")
        self.turns: dict[str, Turn] = {}
        self.current: Turn | None = None
        self.outbox: asyncio.Queue[Send] = asyncio.Queue()
        self.closing = False
        self.close_sent: tuple[int, str] | None = None
        self.timers: set[asyncio.Task] = set()
        self.failing = False  # an error phrase went out: the SDK will drop this socket, say nothing more
        self.muted = False  # a black hole: nothing this socket carries arrives, nothing is sent on it
        self.last_audio_at = time.monotonic()  # the idle clock starts at the upgrade

    async def run(self) -> None:
        inbox: asyncio.Queue[tuple[float, float, str | bytes | None]] = asyncio.Queue()
        tasks = [
            asyncio.create_task(self._send_loop(), name=f"usp-send-{self.id}"),
            asyncio.create_task(self._handle_loop(inbox), name=f"usp-handle-{self.id}"),
            asyncio.create_task(self._watch_idle(), name=f"usp-idle-{self.id}"),
        ]
        plan = self.faults.plan
        if plan.reconnect_every_seconds is not None:
            self.close_later(plan.reconnect_every_seconds, CYCLE_CLOSE_CODE, CYCLE_CLOSE_REASON)
        if plan.close_after_seconds is not None and (plan.close_every_connection or self.ordinal == 0):
            self.close_later(plan.close_after_seconds, plan.close_code, plan.close_reason)
        try:
            async for frame in self.ws:
                inbox.put_nowait((time.monotonic(), time.time(), frame))
        except ConnectionClosed:
            pass
        finally:
            inbox.put_nowait((time.monotonic(), time.time(), None))
            with contextlib.suppress(asyncio.CancelledError, asyncio.TimeoutError):
                await asyncio.wait_for(tasks[1], timeout=5)  # let the frames already read be handled
            for task in [*tasks, *self.timers]:
                task.cancel()
            await asyncio.gather(*tasks, *self.timers, return_exceptions=True)
            by = "service" if self.close_sent is not None else "client"
            code, reason = self.close_sent or (self.ws.close_code, self.ws.close_reason)
            self.record.close_connection(self.id, code=code, reason=reason, by=by, at=time.time())
            log.info("connection %d closed by the %s: %s %r", self.id, by, code, reason)

    # -- incoming -----------------------------------------------------------------------------------

    async def _handle_loop(self, inbox: asyncio.Queue) -> None:
        while True:
            arrived, arrived_at, frame = await inbox.get()
            if frame is None:
                return
            delay = arrived + self.faults.network.one_way_seconds - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            if self.closing or self.muted:
                continue
            try:
                if isinstance(frame, str):
                    self._on_text(usp.parse_text(frame), arrived_at)
                else:
                    self._on_binary(usp.parse_binary(frame), arrived_at)
            except usp.FramingError as exc:
                log.warning("connection %d: dropped a frame that is not USP: %s", self.id, exc)
            except Exception:
                # A bug here must not leave the client talking to a deaf socket: say so and close.
                log.exception("connection %d: handling a frame failed", self.id)
                self.close_later(0.0, 1011, "Internal server error")

    def _on_text(self, message: usp.Message, arrived_at: float) -> None:
        try:
            body = message.json()
        except ValueError:
            body = message.body.decode("utf-8", "replace")
        self.record.add_received(ReceivedMessage(self.id, message.path, message.headers, body, arrived_at))
        path = message.path.lower()
        if path == "speech.config":
            self.record.set_config(self.id, body)
        elif path == "speech.context":
            self._start_turn(message.request_id or "", body if isinstance(body, dict) else {}, arrived_at)
        elif path != "telemetry":
            log.debug("connection %d: ignoring text message %s", self.id, message.path)

    # -- turns --------------------------------------------------------------------------------------

    def _start_turn(self, request_id: str, context: dict, arrived_at: float) -> None:
        detection = context.get("phraseDetection") or {}
        diarization = detection.get("speakerDiarization") or {}
        audio_session_id = str(diarization.get("audioSessionId") or self.connection_header or f"connection-{self.id}")
        session = self.server.diarization_session(audio_session_id)
        base = turn_base(context, diarization)
        segmentation = segmentation_ms(detection)
        language = detection.get("language") or self.language
        record_index = self.record.start_turn(
            TurnRecord(self.id, request_id, None, audio_session_id, language, base, context, arrived_at)
        )
        turn = Turn(
            request_id=request_id,
            session=session,
            base=base,
            recognizer=ToneRecognizer(segmentation_silence_ms=segmentation, sample_rate=SAMPLE_RATE),
            diarize_intermediates=str(diarization.get("diarizeIntermediates", "")).lower() == "true",
            record_index=record_index,
        )
        self.turns[request_id] = turn
        self.current = turn
        log.debug("connection %d: turn %s at byte %d of session %s", self.id, request_id, base, audio_session_id)
        self._send(turn, "turn.start", {"context": {"serviceTag": secrets.token_hex(16)}})

    def _end_turn(self, turn: Turn, *, by: str) -> None:
        """The client's end of audio finishes the utterance in flight; the service's leaves it for the replay."""
        if by == "client":
            self._answer(turn, turn.recognizer.flush())
            # All of it: with nothing left unacknowledged, a closed push stream ends in EndOfStream.
            self._acknowledge(turn, turn.recognizer.samples_fed + SAMPLES_PER_MS - 1)
        else:
            self._acknowledge(turn, turn.recognizer.settled_samples)
        turn.ended_by = by
        self.record.update_turn(turn.record_index, ended_by=by)
        end = ticks(turn.recognizer.samples_fed)
        self._send(turn, "speech.endDetected", {"Offset": end}, result=True)
        self._send(turn, "turn.end", {})

    def end_turn_now(self) -> None:
        if self.current is not None and self.current.ended_by is None and not self.closing:
            self._end_turn(self.current, by="service")

    def close_later(self, after: float, code: int, reason: str) -> None:
        """Close after `after` seconds (plus the one-way delay): the close travels behind earlier replies."""
        async def close() -> None:
            await asyncio.sleep(after)
            if not self.closing:
                self.closing = True
                due = time.monotonic() + self.faults.network.one_way_seconds
                self.outbox.put_nowait(Send(due, close=(code, reason)))

        task = asyncio.create_task(close(), name=f"usp-close-{self.id}")
        self.timers.add(task)
        task.add_done_callback(self.timers.discard)

    async def _send_loop(self) -> None:
        while True:
            item = await self.outbox.get()
            wait = item.due - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            if self.muted:
                continue  # not even a close gets through a black hole
            if item.close is not None:
                code, reason = item.close
                log.info("connection %d: closing with %d %r", self.id, code, reason)
                self.close_sent = (code, reason)
                await self.ws.close(code, reason)
                return
            message = item.message
            headers = message.headers()
            try:
                await self.ws.send(usp.encode_text(headers, message.body))
            except ConnectionClosed:
                return
            except Exception:
                log.exception("connection %d: sending %s failed", self.id, message.path)
                self.close_sent = (1011, "Internal server error")
                await self.ws.close(*self.close_sent)
                return
            sent_at = time.time()
            self.record.add_sent(SentMessage(self.id, message.path, headers, message.body, sent_at))
            if item.acknowledges is not None:
                self.record.set_acknowledged(*item.acknowledges)
            if item.phrase is not None:
                phrase = replace(item.phrase, sent_at=sent_at)
                self.record.add_phrase(phrase)
                self.server.phrase_sent(phrase)

    async def _watch_idle(self) -> None:
        while not self.closing:
            timeout = self.faults.idle_timeout
            if timeout is None:
                await asyncio.sleep(1.0)
                continue
            remaining = self.last_audio_at + timeout - time.monotonic()
            if remaining <= 0:
                log.info("connection %d: no audio for %.1f s", self.id, timeout)
                self.close_later(0.0, IDLE_CLOSE_CODE, IDLE_CLOSE_REASON)
                return
            await asyncio.sleep(min(remaining, 1.0))
