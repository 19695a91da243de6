"""The pieces of a USP connection that are plain data: turns, diarization sessions, the positions they
count in, and what a turn's speech.context says; and what a connection needs of its server."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from roomscribe.core.audio_format import SAMPLE_RATE, SAMPLE_WIDTH, TICKS_PER_SECOND
from roomscribe.emulator.faults import FaultState
from roomscribe.emulator.hearing import Hearing
from roomscribe.emulator.record import Record, RecordedPhrase
from roomscribe.emulator.recognizer import ToneRecognizer

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
class Turn:
    request_id: str
    session: DiarizationSession
    base: int  # bytes: the session stream position of the turn's first PCM byte
    recognizer: ToneRecognizer
    diarize_intermediates: bool
    record_index: int
    hearing: Hearing  # language, language identification and the phrase list this turn listens with
    header_seen: bool = False
    received: int = 0  # PCM bytes
    acked: int = 0  # samples, turn-relative
    ended_by: str | None = None

    @property
    def base_samples(self) -> int:
        return self.base // SAMPLE_WIDTH


class ConnectionHost(Protocol):
    """What a connection needs from the server that accepted it (the Emulator); all of it on the event loop."""

    faults: FaultState
    record: Record

    def diarization_session(self, audio_session_id: str) -> DiarizationSession: ...

    def phrase_sent(self, phrase: RecordedPhrase) -> None: ...


def turn_base(context: dict[str, Any], diarization: dict[str, Any]) -> int:
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


def segmentation_ms(detection: dict[str, Any]) -> int:
    """phraseDetection.CONVERSATION.segmentation.segmentationSilenceTimeoutMs, found whatever the key case."""
    value = find_key(detection, "segmentationsilencetimeoutms")
    try:
        return min(5000, max(100, int(value))) if value is not None else DEFAULT_SEGMENTATION_MS
    except (TypeError, ValueError):
        return DEFAULT_SEGMENTATION_MS


def find_key(node: Any, lowered: str) -> Any:
    if isinstance(node, dict):
        for key, value in node.items():
            if str(key).lower() == lowered:
                return value
        for value in node.values():
            found = find_key(value, lowered)
            if found is not None:
                return found
    return None
