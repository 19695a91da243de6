"""The audio a client sends on a turn: the WAV header, the PCM, the end of audio; every frame recorded.
A part of Connection (connection.py)."""

from __future__ import annotations

import logging
import time

from roomscribe.emulator import usp
from roomscribe.emulator.faults import UNSUPPORTED_AUDIO_CLOSE_CODE
from roomscribe.emulator.record import AudioFrame
from roomscribe.emulator.turns import Turn

log = logging.getLogger("roomscribe.emulator.connection")  # one log for the connection and its parts


class AudioIntake:
    """Connection's audio handling; uses its record, turns, current turn, and its answers."""

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

    def _read_wav_header(self, turn: Turn, message: usp.Message, payload: bytes, arrived_at: float) -> bytes | None:
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
        self, turn: Turn | None, message: usp.Message, kind: str, payload: bytes, arrived_at: float
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
