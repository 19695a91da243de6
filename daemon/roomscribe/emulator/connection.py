"""One accepted USP connection: its life, its turns and its timers.

A reader stamps frames on arrival and a handler takes them after the one-way network delay: text messages
here (speech.config, speech.context opening a turn), audio in the `AudioIntake`. Each turn runs a tone
recognizer; `TurnAnswers` says what the service answers, and the `Sender` writes the replies in order after
their delays. What outlives a connection (diarization sessions, the record, the faults) belongs to the
server, reached through `ConnectionHost`. docs/emulator.md describes the behaviour;
/work/shared/usp-protocol.md the protocol it follows.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from roomscribe.core.audio_format import SAMPLE_RATE
from roomscribe.emulator import usp
from roomscribe.emulator.answers import TurnAnswers
from roomscribe.emulator.faults import (
    CYCLE_CLOSE_CODE,
    CYCLE_CLOSE_REASON,
    IDLE_CLOSE_CODE,
    IDLE_CLOSE_REASON,
    UNSUPPORTED_AUDIO_CLOSE_CODE,
)
from roomscribe.emulator.hearing import Hearing, Listening
from roomscribe.emulator.intake import AudioIntake
from roomscribe.emulator.record import ReceivedMessage, TurnRecord
from roomscribe.emulator.recognizer import ToneRecognizer
from roomscribe.emulator.sender import Sender
from roomscribe.emulator.turns import SAMPLES_PER_MS, ConnectionHost, Turn, segmentation_ms, turn_base

log = logging.getLogger(__name__)


class Connection:
    """One accepted WebSocket: its turns and its timers; its replies go out through its sender."""

    def __init__(self, server: ConnectionHost, ws: ServerConnection, connection_id: int, ordinal: int):
        self._server = server
        self._faults = server.faults
        self._record = server.record
        self._ws = ws
        self.id = connection_id
        self._ordinal = ordinal  # 0 for the first accepted connection
        query = parse_qs(urlsplit(ws.request.path).query)
        self._language = (query.get("language") or [None])[0]
        self._connection_header = ws.request.headers.get("X-ConnectionId")
        self._turns: dict[str, Turn] = {}
        self._current: Turn | None = None
        self._timers: set[asyncio.Task] = set()
        self._sender = Sender(ws, connection_id, self._faults, self._record, on_phrase=server.phrase_sent)
        self._answers = TurnAnswers(self._sender, self._faults, connection_id)
        self._intake = AudioIntake(connection_id, self._record, self._answers)
        self._muted = False  # a black hole (mute): nothing this socket carries arrives, nothing is sent on it

    async def run(self) -> None:
        inbox: asyncio.Queue[tuple[float, float, str | bytes | None]] = asyncio.Queue()
        tasks = [
            asyncio.create_task(self._sender.run(), name=f"usp-send-{self.id}"),
            asyncio.create_task(self._handle_loop(inbox), name=f"usp-handle-{self.id}"),
            asyncio.create_task(self._watch_idle(), name=f"usp-idle-{self.id}"),
        ]
        plan = self._faults.plan
        if plan.reconnect_every_seconds is not None:
            self.close_later(plan.reconnect_every_seconds, CYCLE_CLOSE_CODE, CYCLE_CLOSE_REASON)
        if plan.close_after_seconds is not None and (plan.close_every_connection or self._ordinal == 0):
            self.close_later(plan.close_after_seconds, plan.close_code, plan.close_reason)
        try:
            async for frame in self._ws:
                inbox.put_nowait((time.monotonic(), time.time(), frame))
        except ConnectionClosed:
            pass
        finally:
            inbox.put_nowait((time.monotonic(), time.time(), None))
            with contextlib.suppress(asyncio.CancelledError, asyncio.TimeoutError):
                await asyncio.wait_for(tasks[1], timeout=5)  # let the frames already read be handled
            for task in [*tasks, *self._timers]:
                task.cancel()
            await asyncio.gather(*tasks, *self._timers, return_exceptions=True)
            close_sent = self._sender.close_sent
            by = "service" if close_sent is not None else "client"
            code, reason = close_sent or (self._ws.close_code, self._ws.close_reason)
            self._record.close_connection(self.id, code=code, reason=reason, by=by, at=time.time())
            log.info("connection %d closed by the %s: %s %r", self.id, by, code, reason)

    def mute(self) -> None:
        """Become a black hole (a NAT that dropped the flow): frames that arrive from now on are dropped
        unread, and the sender sends nothing more, not even a close. The socket stays open."""
        self._muted = True
        self._sender.mute()

    def end_turn_now(self) -> None:
        """The service ends the current turn (a fault): speech.endDetected + turn.end mid-stream."""
        current = self._current
        if current is not None and current.ended_by is None and not self._sender.closing:
            self._end_turn(current, by="service")

    def close_later(self, after: float, code: int, reason: str) -> None:
        """Close after `after` seconds (plus the one-way delay): the close travels behind earlier replies."""
        async def close() -> None:
            await asyncio.sleep(after)
            self._sender.close(code, reason)

        task = asyncio.create_task(close(), name=f"usp-close-{self.id}")
        self._timers.add(task)
        task.add_done_callback(self._timers.discard)

    # -- incoming -----------------------------------------------------------------------------------

    async def _handle_loop(self, inbox: asyncio.Queue) -> None:
        while True:
            arrived, arrived_at, frame = await inbox.get()
            if frame is None:
                return
            delay = arrived + self._faults.network.one_way_seconds - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            if self._sender.closing or self._muted:
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
        self._record.add_received(ReceivedMessage(self.id, message.path, message.headers, body, arrived_at))
        path = message.path.lower()
        if path == "speech.config":
            self._record.set_config(self.id, body)
        elif path == "speech.context":
            self._start_turn(message.request_id or "", body if isinstance(body, dict) else {}, arrived_at)
        elif path != "telemetry":
            log.debug("connection %d: ignoring text message %s", self.id, message.path)

    def _on_binary(self, message: usp.Message, arrived_at: float) -> None:
        turn = self._turns.get(message.request_id or "")
        intake = self._intake.take(message, turn, arrived_at, current=turn is not None and turn is self._current)
        if intake.refusal is not None:
            log.warning("connection %d: refusing audio: %s", self.id, intake.refusal)
            self.close_later(0.0, UNSUPPORTED_AUDIO_CLOSE_CODE, intake.refusal)
        elif intake.end_of_audio:
            self._end_turn(turn, by="client")

    # -- turns --------------------------------------------------------------------------------------

    def _start_turn(self, request_id: str, context: dict, arrived_at: float) -> None:
        detection = context.get("phraseDetection") or {}
        diarization = detection.get("speakerDiarization") or {}
        audio_session_id = str(diarization.get("audioSessionId") or self._connection_header or f"connection-{self.id}")
        session = self._server.diarization_session(audio_session_id)
        base = turn_base(context, diarization)
        segmentation = segmentation_ms(detection)
        language = detection.get("language") or self._language
        listening = Listening.from_context(context, self._language)
        record_index = self._record.start_turn(
            TurnRecord(self.id, request_id, None, audio_session_id, language, base, context, arrived_at,
                       phrase_list=listening.phrases, candidates=listening.candidates,
                       language_id_mode=(context.get("languageId") or {}).get("mode"))
        )
        turn = Turn(
            request_id=request_id,
            session=session,
            base=base,
            recognizer=ToneRecognizer(segmentation_silence_ms=segmentation, sample_rate=SAMPLE_RATE),
            diarize_intermediates=str(diarization.get("diarizeIntermediates", "")).lower() == "true",
            record_index=record_index,
            hearing=Hearing(listening),
        )
        self._turns[request_id] = turn
        self._current = turn
        log.debug("connection %d: turn %s at byte %d of session %s", self.id, request_id, base, audio_session_id)
        self._answers.start(turn)

    def _end_turn(self, turn: Turn, *, by: str) -> None:
        """The client's end of audio finishes the utterance in flight; the service's leaves it for the replay."""
        if by == "client":
            self._answers.answer(turn, turn.recognizer.flush())
            # All of it: with nothing left unacknowledged, a closed push stream ends in EndOfStream.
            self._answers.acknowledge(turn, turn.recognizer.samples_fed + SAMPLES_PER_MS - 1)
        else:
            self._answers.acknowledge(turn, turn.recognizer.settled_samples)
        turn.ended_by = by
        self._record.update_turn(turn.record_index, ended_by=by)
        self._answers.end(turn)

    async def _watch_idle(self) -> None:
        while not self._sender.closing:
            timeout = self._faults.idle_timeout
            if timeout is None:
                await asyncio.sleep(1.0)
                continue
            remaining = self._intake.last_audio_at + timeout - time.monotonic()
            if remaining <= 0:
                log.info("connection %d: no audio for %.1f s", self.id, timeout)
                self.close_later(0.0, IDLE_CLOSE_CODE, IDLE_CLOSE_REASON)
                return
            await asyncio.sleep(min(remaining, 1.0))
