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
from dataclasses import dataclass, field, replace
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from roomscribe.core.audio_format import SAMPLE_RATE, SAMPLE_WIDTH, TICKS_PER_SECOND
from roomscribe.emulator import usp
from roomscribe.emulator.faults import (
    CYCLE_CLOSE_CODE,
    CYCLE_CLOSE_REASON,
    IDLE_CLOSE_CODE,
    IDLE_CLOSE_REASON,
    UNSUPPORTED_AUDIO_CLOSE_CODE,
    FaultState,
)
from roomscribe.emulator.record import AudioFrame, ReceivedMessage, Record, RecordedPhrase, SentMessage, TurnRecord
from roomscribe.emulator.recognizer import Hypothesis, Phrase, SpeechStart, ToneRecognizer

log = logging.getLogger(__name__)

DEFAULT_SEGMENTATION_MS = 500
ACK_EVERY_SAMPLES = 2 * SAMPLE_RATE  # acknowledge settled silence every 2 s of audio: far inside the SDK's 66 s
# A replayed utterance that starts this far before the end of the last answered phrase was answered before.
# Recognition restarted at another position can move an edge by a few milliseconds; a symbol lasts 64 ms.
DUPLICATE_TOLERANCE_SAMPLES = SAMPLE_RATE * 32 // 1000
ACK_HEADER = "X-Continuation-Audio-Streams-1-Offset"
# The SDK replays from the acknowledged position cut to whole milliseconds (audioOffsetMS), while its
# continuation offset keeps the ticks. Acknowledging only whole milliseconds keeps the two equal.
SAMPLES_PER_MS = SAMPLE_RATE // 1000


def whole_ms(samples: int) -> int:
    return samples - samples % SAMPLES_PER_MS


def ticks(samples: int) -> int:
    return samples * TICKS_PER_SECOND // SAMPLE_RATE


@dataclass
class DiarizationSession:
    """One transcriber's speakers and answered audio, across its reconnects (owned by the event loop)."""

    audio_session_id: str
    labels: dict[int, str] = field(default_factory=dict)
    answered_until: int = 0  # samples into the session's stream: the end of the last phrase sent

    def label(self, speaker: int | None) -> str:
        if speaker is None:
            return "Unknown"
        if speaker not in self.labels:
            self.labels[speaker] = f"Guest-{len(self.labels) + 1}"
        return self.labels[speaker]


@dataclass
class _Turn:
    request_id: str
    session: DiarizationSession
    base: int  # bytes: the session stream position of the turn's first PCM byte
    recognizer: ToneRecognizer
    diarize_intermediates: bool
    record_index: int
    header_seen: bool = False
    received: int = 0  # PCM bytes
    acked: int = 0  # samples, turn-relative
    ended_by: str | None = None

    @property
    def base_samples(self) -> int:
        return self.base // SAMPLE_WIDTH


@dataclass(frozen=True)
class _Send:
    due: float  # monotonic time before which it must not leave
    message: usp.Outgoing | None = None
    phrase: RecordedPhrase | None = None
    acknowledges: tuple[str, int] | None = None  # (audio session, stream bytes) the SDK may free once sent
    close: tuple[int, str] | None = None


class ConnectionHost(Protocol):
    """What a connection needs from the server that accepted it (the Emulator); all of it on the event loop."""

    faults: FaultState
    record: Record

    def diarization_session(self, audio_session_id: str) -> DiarizationSession: ...

    def phrase_sent(self, phrase: RecordedPhrase) -> None: ...


class Connection:
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
        self.turns: dict[str, _Turn] = {}
        self.current: _Turn | None = None
        self.outbox: asyncio.Queue[_Send] = asyncio.Queue()
        self.closing = False
        self.close_sent: tuple[int, str] | None = None
        self.timers: set[asyncio.Task] = set()
        self.failing = False  # an error phrase went out: the SDK will drop this socket, say nothing more
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
            if self.closing:
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

    def _on_binary(self, message: usp.Message, arrived_at: float) -> None:
        turn = self.turns.get(message.request_id or "")
        payload = message.body
        if message.path.lower() != "audio" or turn is None:
            self._record_audio(turn, message, "ignored", payload, arrived_at)
            return
        if turn.ended_by is None:
            self.last_audio_at = time.monotonic()
        if not turn.header_seen and payload:
            payload = self._read_wav_header(turn, message, payload, arrived_at)
            if payload is None or not payload:
                return
        if not payload:
            self._record_audio(turn, message, "end", payload, arrived_at)
            if turn.ended_by is None and turn is self.current:
                self._end_turn(turn, by="client")
            return  # else the SDK's answer to a turn.end the service sent: not the user stopping
        if turn.ended_by is not None or turn is not self.current:
            self._record_audio(turn, message, "ignored", payload, arrived_at)
            return
        self._record_audio(turn, message, "pcm", payload, arrived_at)
        turn.received += len(payload)
        self._answer(turn, turn.recognizer.feed(payload))
        self._acknowledge_settled(turn)

    def _read_wav_header(self, turn: _Turn, message: usp.Message, payload: bytes, arrived_at: float) -> bytes | None:
        turn.header_seen = True
        try:
            wav = usp.parse_wav_header(payload)
        except usp.UnsupportedAudio as exc:
            self._record_audio(turn, message, "wav-header", payload, arrived_at)
            self._refuse_audio(str(exc))
            return None
        self._record_audio(turn, message, "wav-header", payload[: wav.header_length], arrived_at)
        self.record.update_turn(
            turn.record_index,
            stream_id=message.header("X-StreamId"),
            wav_format={"format_tag": wav.format_tag, "channels": wav.channels,
                        "sample_rate": wav.sample_rate, "bits_per_sample": wav.bits_per_sample},
        )
        if not wav.is_service_pcm:
            self._refuse_audio(
                f"Unsupported audio format: {wav.sample_rate} Hz, {wav.bits_per_sample}-bit, "
                f"{wav.channels} channel(s), format tag {wav.format_tag}; expected 16000 Hz 16-bit mono PCM"
            )
            return None
        return payload[wav.header_length :]

    def _refuse_audio(self, reason: str) -> None:
        log.warning("connection %d: refusing audio: %s", self.id, reason)
        self.close_later(0.0, UNSUPPORTED_AUDIO_CLOSE_CODE, reason)

    def _record_audio(
        self, turn: _Turn | None, message: usp.Message, kind: str, payload: bytes, arrived_at: float
    ) -> None:
        offset = turn.base + turn.received if turn is not None and kind == "pcm" else None
        self.record.add_audio(
            AudioFrame(
                connection=self.id,
                request_id=message.request_id or "",
                turn=turn.record_index if turn is not None else -1,
                kind=kind,
                size=len(payload),
                stream_offset=offset,
                arrived_at=arrived_at,
                audio_session_id=turn.session.audio_session_id if turn is not None else None,
                data=bytes(payload) if kind == "pcm" else b"",
            )
        )

    # -- turns --------------------------------------------------------------------------------------

    def _start_turn(self, request_id: str, context: dict, arrived_at: float) -> None:
        detection = context.get("phraseDetection") or {}
        diarization = detection.get("speakerDiarization") or {}
        audio_session_id = str(diarization.get("audioSessionId") or self.connection_header or f"connection-{self.id}")
        session = self.server.diarization_session(audio_session_id)
        base = _turn_base(context, diarization)
        segmentation = _segmentation_ms(detection)
        language = detection.get("language") or self.language
        record_index = self.record.start_turn(
            TurnRecord(self.id, request_id, None, audio_session_id, language, base, context, arrived_at)
        )
        turn = _Turn(
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

    def _end_turn(self, turn: _Turn, *, by: str) -> None:
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

    # -- results ------------------------------------------------------------------------------------

    def _answer(self, turn: _Turn, events: list) -> None:
        if self.failing:
            return
        for event in events:
            start = turn.base_samples + event.offset
            if start < turn.session.answered_until - DUPLICATE_TOLERANCE_SAMPLES:
                continue  # replayed audio whose phrase was already sent
            if isinstance(event, SpeechStart):
                self._send(turn, "speech.startDetected", {"Offset": ticks(event.offset)}, result=True)
            elif isinstance(event, Hypothesis):
                speaker = turn.session.label(event.speaker) if turn.diarize_intermediates else "Unknown"
                body = {"Text": event.text, "Offset": ticks(event.offset), "Duration": ticks(event.duration),
                        "SpeakerId": speaker, "Channel": 0}
                self._send(turn, "speech.hypothesis", body, result=True)
            elif isinstance(event, Phrase):
                self._send_phrase(turn, event)
                if self.failing:
                    return

    def _send_phrase(self, turn: _Turn, phrase: Phrase) -> None:
        if not self.faults.acknowledging:
            return  # the service has gone quiet: no result, no acknowledgement
        error = self.faults.take_phrase_error()
        if error is not None:
            log.info("connection %d: sending a phrase with status %s", self.id, error)
            self.failing = True
            self._send(turn, "speech.phrase", {"RecognitionStatus": error, "Offset": 0, "Duration": 0}, result=True)
            return
        speaker = turn.session.label(phrase.speaker)
        end = max(whole_ms(phrase.offset + phrase.duration), phrase.offset + 1)  # the phrase acknowledges up to its end
        body = {"RecognitionStatus": "Success", "DisplayText": phrase.text, "Offset": ticks(phrase.offset),
                "Duration": ticks(end - phrase.offset), "SpeakerId": speaker, "Channel": 0}
        start = turn.base_samples + phrase.offset
        recorded = RecordedPhrase(turn.session.audio_session_id, self.id, turn.request_id, phrase.text, speaker,
                                  ticks(start), ticks(end - phrase.offset), 0.0)
        turn.session.answered_until = max(turn.session.answered_until, turn.base_samples + end)
        turn.acked = max(turn.acked, end)
        self._send(turn, "speech.phrase", body, result=True, phrase=recorded, acknowledges=turn.base_samples + end)

    def _acknowledge_settled(self, turn: _Turn) -> None:
        settled = turn.recognizer.settled_samples
        if settled - turn.acked >= ACK_EVERY_SAMPLES:
            self._acknowledge(turn, settled)

    def _acknowledge(self, turn: _Turn, position: int) -> None:
        """An EndOfDictation phrase over audio that needs no answer: the SDK frees it and raises no event."""
        position = whole_ms(position)
        if position <= turn.acked or not self.faults.acknowledging or self.failing:
            return
        body = {"RecognitionStatus": "EndOfDictation", "Offset": ticks(turn.acked),
                "Duration": ticks(position - turn.acked)}
        turn.acked = position
        self._send(turn, "speech.phrase", body, result=True, extra=((ACK_HEADER, str(ticks(position))),),
                   acknowledges=turn.base_samples + position)

    # -- outgoing -----------------------------------------------------------------------------------

    def _send(self, turn: _Turn, path: str, body: dict | None, *, result: bool = False,
              phrase: RecordedPhrase | None = None, extra: tuple = (), acknowledges: int | None = None) -> None:
        """Queue a reply; `acknowledges` is the session stream position (samples) it lets the SDK free."""
        delay = self.faults.network.one_way_seconds + (self.faults.result_delay if result else 0.0)
        message = usp.Outgoing(path, turn.request_id, body, extra)
        ack = None if acknowledges is None else (turn.session.audio_session_id, acknowledges * SAMPLE_WIDTH)
        self.outbox.put_nowait(_Send(time.monotonic() + delay, message=message, phrase=phrase, acknowledges=ack))

    def close_later(self, after: float, code: int, reason: str) -> None:
        """Close after `after` seconds (plus the one-way delay): the close travels behind earlier replies."""
        async def close() -> None:
            await asyncio.sleep(after)
            if not self.closing:
                self.closing = True
                due = time.monotonic() + self.faults.network.one_way_seconds
                self.outbox.put_nowait(_Send(due, close=(code, reason)))

        task = asyncio.create_task(close(), name=f"usp-close-{self.id}")
        self.timers.add(task)
        task.add_done_callback(self.timers.discard)

    async def _send_loop(self) -> None:
        while True:
            item = await self.outbox.get()
            wait = item.due - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
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


def _turn_base(context: dict, diarization: dict) -> int:
    """Bytes of the session's stream before this turn: where the SDK's replay begins.

    That is audioOffsetMS (the acknowledged position in whole milliseconds); the continuation offset in
    ticks says the same as long as acknowledgements fall on whole milliseconds, as the emulator's do.
    """
    milliseconds = diarization.get("audioOffsetMS")
    if milliseconds is None:
        continuation = context.get("continuation") or {}
        stream = (((continuation.get("audio") or {}).get("streams") or {}).get("1")) or {}
        milliseconds = int(stream.get("offset") or 0) // (TICKS_PER_SECOND // 1000)
    return int(milliseconds) * SAMPLES_PER_MS * SAMPLE_WIDTH


def _segmentation_ms(detection: dict) -> int:
    """phraseDetection.CONVERSATION.segmentation.segmentationSilenceTimeoutMs, found whatever the key case."""
    value = _find_key(detection, "segmentationsilencetimeoutms")
    try:
        return min(5000, max(100, int(value))) if value is not None else DEFAULT_SEGMENTATION_MS
    except (TypeError, ValueError):
        return DEFAULT_SEGMENTATION_MS


def _find_key(node: Any, lowered: str) -> Any:
    if isinstance(node, dict):
        for key, value in node.items():
            if str(key).lower() == lowered:
                return value
        for value in node.values():
            found = _find_key(value, lowered)
            if found is not None:
                return found
    return None
