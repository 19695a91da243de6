"""The audio a client sends on a turn: the WAV header, the PCM, the end of audio; every frame recorded.

One `AudioIntake` per connection. It feeds a turn's PCM to the turn's recognizer and has the turn's answers
sent; what only the connection may do (end the turn, close the socket) it returns as an `Intake`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from roomscribe.emulator import usp
from roomscribe.emulator.answers import TurnAnswers
from roomscribe.emulator.record import AudioFrame, Record
from roomscribe.emulator.turns import Turn


@dataclass(frozen=True)
class Intake:
    """What the connection must do about an audio frame: nothing, mostly."""

    end_of_audio: bool = False  # the client ended the current turn's audio (stop, or the push stream closed)
    refusal: str | None = None  # the turn's audio format is refused: close with 1007 and this reason


NOTHING = Intake()


class AudioIntake:
    """A connection's audio frames: recorded, and the current turn's PCM recognized and answered."""

    def __init__(self, connection_id: int, record: Record, answers: TurnAnswers):
        self._id = connection_id
        self._record = record
        self._answers = answers
        self._last_audio_at = time.monotonic()  # the idle clock starts at the upgrade

    @property
    def last_audio_at(self) -> float:
        """Monotonic time of the last audio frame on an open turn (the upgrade's, before any)."""
        return self._last_audio_at

    def take(self, message: usp.Message, turn: Turn | None, arrived_at: float, *, current: bool) -> Intake:
        """A binary frame for `turn` (None: no such turn); `current`: it is the connection's current turn."""
        payload = message.body
        if message.path.lower() != "audio" or turn is None:
            self._record_audio(turn, message, "ignored", payload, arrived_at)
            return NOTHING
        if turn.ended_by is None:
            self._last_audio_at = time.monotonic()
        if not turn.header_seen and payload:
            payload, refusal = self._read_wav_header(turn, message, payload, arrived_at)
            if refusal is not None:
                return Intake(refusal=refusal)
            if not payload:
                return NOTHING
        if not payload:
            self._record_audio(turn, message, "end", payload, arrived_at)
            if turn.ended_by is None and current:
                return Intake(end_of_audio=True)
            return NOTHING  # the SDK's answer to a turn.end the service sent: not the user stopping
        if turn.ended_by is not None or not current:
            self._record_audio(turn, message, "ignored", payload, arrived_at)
            return NOTHING
        self._record_audio(turn, message, "pcm", payload, arrived_at)
        turn.received += len(payload)
        self._answers.answer(turn, turn.recognizer.feed(payload))
        self._answers.acknowledge_settled(turn)
        return NOTHING

    def _read_wav_header(self, turn: Turn, message: usp.Message, payload: bytes,
                         arrived_at: float) -> tuple[bytes, str | None]:
        """The PCM after the turn's WAV header, or the reason its format is refused."""
        turn.header_seen = True
        try:
            wav = usp.parse_wav_header(payload)
        except usp.UnsupportedAudio as exc:
            self._record_audio(turn, message, "wav-header", payload, arrived_at)
            return b"", str(exc)
        self._record_audio(turn, message, "wav-header", payload[: wav.header_length], arrived_at)
        self._record.update_turn(
            turn.record_index,
            stream_id=message.header("X-StreamId"),
            wav_format={"format_tag": wav.format_tag, "channels": wav.channels,
                        "sample_rate": wav.sample_rate, "bits_per_sample": wav.bits_per_sample},
        )
        if not wav.is_service_pcm:
            return b"", (
                f"Unsupported audio format: {wav.sample_rate} Hz, {wav.bits_per_sample}-bit, "
                f"{wav.channels} channel(s), format tag {wav.format_tag}; expected 16000 Hz 16-bit mono PCM"
            )
        return payload[wav.header_length :], None

    def _record_audio(
        self, turn: Turn | None, message: usp.Message, kind: str, payload: bytes, arrived_at: float
    ) -> None:
        offset = turn.base + turn.received if turn is not None and kind == "pcm" else None
        self._record.add_audio(
            AudioFrame(
                connection=self._id,
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
