"""What the emulator saw and said, connection by connection, for tests to check and people to read.

The server writes from its event loop; tests read from their own thread. Every method takes the lock,
and reads return frozen snapshots, so a reader never sees a half-written entry.
"""

from __future__ import annotations

import json
import threading
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

REDACTED_HEADERS = frozenset({"ocp-apim-subscription-key", "authorization"})


@dataclass(frozen=True)
class AudioFrame:
    connection: int
    request_id: str
    turn: int  # index of the turn in the record (Record.turns), -1 when the request id matched no turn
    kind: str  # "wav-header", "pcm", "end" (0-byte end of audio) or "ignored"
    size: int
    stream_offset: int | None  # bytes from the start of the diarization session's stream (pcm only)
    arrived_at: float  # epoch seconds
    audio_session_id: str | None
    data: bytes = field(repr=False, default=b"")


@dataclass(frozen=True)
class SentMessage:
    connection: int
    path: str
    headers: tuple[tuple[str, str], ...]
    body: Any
    sent_at: float


@dataclass(frozen=True)
class ReceivedMessage:
    connection: int
    path: str
    headers: tuple[tuple[str, str], ...]
    body: Any
    arrived_at: float


@dataclass(frozen=True)
class RecordedPhrase:
    """A recognized phrase as sent; offsets count from the start of the diarization session's stream."""

    audio_session_id: str
    connection: int
    request_id: str
    text: str
    speaker: str
    offset_ticks: int
    duration_ticks: int
    sent_at: float
    language: str | None = None  # PrimaryLanguage.Language, sent with language identification


@dataclass(frozen=True)
class TurnRecord:
    connection: int
    request_id: str
    stream_id: str | None
    audio_session_id: str
    language: str | None
    base_offset: int  # bytes: where the turn's first PCM byte sits in the session's stream
    context: Any
    started_at: float
    wav_format: dict | None = None
    ended_by: str | None = None  # "client" (its 0-byte frame) or "service" (the emulator ended it)
    phrase_list: tuple[str, ...] = ()  # the speech.context's dgi phrases (hearing.py)
    candidates: tuple[str, ...] = ()  # languageId.languages: language identification among them
    language_id_mode: str | None = None  # languageId.mode: DetectAtAudioStart or DetectContinuous


@dataclass(frozen=True)
class ConnectionRecord:
    id: int
    path: str
    headers: tuple[tuple[str, str], ...]  # upgrade request headers, the key redacted
    http_status: int  # 101 when the upgrade was accepted
    opened_at: float
    closed_at: float | None = None
    close_code: int | None = None
    close_reason: str | None = None
    closed_by: str | None = None  # "service" or "client"
    config: Any = None  # the speech.config body
    turns: tuple[int, ...] = ()  # indices into Record.turns

    @property
    def accepted(self) -> bool:
        return self.http_status == 101


def redact(headers: list[tuple[str, str]] | tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
    return tuple((name, "***" if name.lower() in REDACTED_HEADERS else value) for name, value in headers)


class Record:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._connections: list[ConnectionRecord] = []
        self._turns: list[TurnRecord] = []
        self._audio: list[AudioFrame] = []
        self._received: list[ReceivedMessage] = []
        self._sent: list[SentMessage] = []
        self._phrases: list[RecordedPhrase] = []
        self._acknowledged: dict[str, int] = {}

    # -- writing (the server) ------------------------------------------------------------------------

    def open_connection(self, path: str, headers, http_status: int, opened_at: float) -> int:
        with self._lock:
            entry = ConnectionRecord(len(self._connections) + 1, path, redact(headers), http_status, opened_at)
            self._connections.append(entry)
            return len(self._connections)

    def close_connection(self, connection: int, *, code: int | None, reason: str | None, by: str, at: float) -> None:
        with self._lock:
            entry = self._connections[connection - 1]
            if entry.closed_at is None:
                self._connections[connection - 1] = replace(
                    entry, closed_at=at, close_code=code, close_reason=reason, closed_by=by
                )

    def set_config(self, connection: int, config: Any) -> None:
        with self._lock:
            self._connections[connection - 1] = replace(self._connections[connection - 1], config=config)

    def start_turn(self, turn: TurnRecord) -> int:
        with self._lock:
            self._turns.append(turn)
            index = len(self._turns) - 1
            entry = self._connections[turn.connection - 1]
            self._connections[turn.connection - 1] = replace(entry, turns=entry.turns + (index,))
            return index

    def update_turn(self, index: int, **changes: Any) -> None:
        with self._lock:
            self._turns[index] = replace(self._turns[index], **changes)

    def add_received(self, message: ReceivedMessage) -> None:
        with self._lock:
            self._received.append(message)

    def add_audio(self, frame: AudioFrame) -> None:
        with self._lock:
            self._audio.append(frame)

    def add_sent(self, message: SentMessage) -> None:
        with self._lock:
            self._sent.append(message)

    def add_phrase(self, phrase: RecordedPhrase) -> None:
        with self._lock:
            self._phrases.append(phrase)

    def set_acknowledged(self, audio_session_id: str, stream_bytes: int) -> None:
        with self._lock:
            previous = self._acknowledged.get(audio_session_id, 0)
            self._acknowledged[audio_session_id] = max(previous, stream_bytes)

    # -- reading (any thread) ------------------------------------------------------------------------

    @property
    def connections(self) -> list[ConnectionRecord]:
        with self._lock:
            return list(self._connections)

    @property
    def turns(self) -> list[TurnRecord]:
        with self._lock:
            return list(self._turns)

    def accepted_connections(self) -> list[ConnectionRecord]:
        return [c for c in self.connections if c.accepted]

    def audio_frames(self, connection: int | None = None) -> list[AudioFrame]:
        with self._lock:
            return [f for f in self._audio if connection is None or f.connection == connection]

    def received(self, path: str | None = None) -> list[ReceivedMessage]:
        """Text messages from the client (speech.config, speech.context, telemetry, …)."""
        with self._lock:
            return [m for m in self._received if path is None or m.path == path]

    def sent(self, path: str | None = None) -> list[SentMessage]:
        with self._lock:
            return [m for m in self._sent if path is None or m.path == path]

    def phrases(self, audio_session_id: str | None = None) -> list[RecordedPhrase]:
        """Recognized phrases (status Success) in the order they were sent."""
        with self._lock:
            return [p for p in self._phrases if audio_session_id is None or p.audio_session_id == audio_session_id]

    def audio_session_ids(self) -> list[str]:
        """Diarization sessions (one per transcriber) in order of first appearance."""
        with self._lock:
            return list(dict.fromkeys(t.audio_session_id for t in self._turns))

    def acknowledged_bytes(self, audio_session_id: str | None = None) -> int:
        """How far into the session's stream the emulator has acknowledged audio (phrases, EndOfDictation).

        With no session named: the most recent session's. Lets a test push audio faster than real
        time without running past the SDK's 66 s buffer of unacknowledged audio.
        """
        with self._lock:
            if audio_session_id is None:
                if not self._turns:
                    return 0
                audio_session_id = self._turns[-1].audio_session_id
            return self._acknowledged.get(audio_session_id, 0)

    def raw_audio_bytes(self) -> bytes:
        """Every PCM byte received, replays included, in arrival order."""
        with self._lock:
            return b"".join(f.data for f in self._audio if f.kind == "pcm")

    def audio_bytes(self, audio_session_id: str | None = None) -> bytes:
        """The unique audio stream of a session, replays laid over their first copy at the turn's base offset.

        With no session named, the streams of all sessions are joined in order of first appearance.
        Equals what the client wrote to its push stream, as far as the SDK sent it.
        """
        sessions = [audio_session_id] if audio_session_id is not None else self.audio_session_ids()
        with self._lock:
            frames = [f for f in self._audio if f.kind == "pcm"]
        return b"".join(_stream_of(frames, session) for session in sessions)

    def replay_mismatches(self, audio_session_id: str | None = None) -> int:
        """Replayed bytes that differ from the first copy at the same stream offset (0 when all is well)."""
        with self._lock:
            frames = [f for f in self._audio if f.kind == "pcm"]
        sessions = [audio_session_id] if audio_session_id is not None else self.audio_session_ids()
        mismatches = 0
        for session in sessions:
            stream = bytearray()
            for frame in (f for f in frames if f.audio_session_id == session and f.stream_offset is not None):
                start = frame.stream_offset or 0
                overlap = max(0, min(len(stream) - start, frame.size))
                if overlap:
                    old = stream[start : start + overlap]
                    mismatches += sum(1 for a, b in zip(old, frame.data[:overlap]) if a != b)
                _lay(stream, start, frame.data)
        return mismatches

    def to_dict(self) -> dict[str, Any]:
        with self._lock:
            return {
                "connections": [asdict(c) for c in self._connections],
                "turns": [asdict(t) for t in self._turns],
                "received": [asdict(m) for m in self._received],
                "audio": [{k: v for k, v in asdict(f).items() if k != "data"} for f in self._audio],
                "sent": [asdict(m) for m in self._sent],
                "phrases": [asdict(p) for p in self._phrases],
                "acknowledged_bytes": dict(self._acknowledged),
            }

    def to_json(self, indent: int | None = 1) -> str:
        """Everything but the audio samples themselves (frames keep their sizes, offsets and times)."""
        return json.dumps(self.to_dict(), indent=indent, default=str)

    def dump(self, path: str | Path) -> None:
        Path(path).write_text(self.to_json(), encoding="utf-8")


def _lay(stream: bytearray, start: int, data: bytes) -> None:
    if start > len(stream):
        stream.extend(bytes(start - len(stream)))  # a hole: audio the SDK never sent
    stream[start : start + len(data)] = data


def _stream_of(frames: list[AudioFrame], audio_session_id: str) -> bytes:
    stream = bytearray()
    for frame in frames:
        if frame.audio_session_id == audio_session_id and frame.stream_offset is not None:
            _lay(stream, frame.stream_offset, frame.data)
    return bytes(stream)
