"""What roomscribe publishes: utterances, partials, state, events and the voices' names as frozen records.

The daemon builds them, the MQTT link serialises them with `to_payload()`. Times are kept as epoch
seconds in the records and leave as ISO 8601 UTC strings with milliseconds. The JSON Schemas in
`roomscribe/schemas/` describe the payloads; docs/mqtt.md shows an example of each.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Literal

Level = Literal["info", "warning", "error"]

# The HA event entity takes the event type from the payload; see docs/mqtt.md.
UTTERANCE_EVENT_TYPE = "utterance"

# `<base>/speech_connection`: the service answers; its socket is open but it left speech unanswered past
# the bound; no connection that answers (closed, lost, or a new one not answered yet).
SPEECH_CONNECTED = "connected"
SPEECH_STALLED = "stalled"
SPEECH_DISCONNECTED = "disconnected"


def iso_utc(epoch_seconds: float) -> str:
    """`2026-11-23T21:30:00.123Z`: UTC, milliseconds, rounded (never a ".1000")."""
    millis = round(epoch_seconds * 1000)
    whole = datetime.fromtimestamp(millis // 1000, tz=timezone.utc)
    return f"{whole:%Y-%m-%dT%H:%M:%S}.{millis % 1000:03d}Z"


def from_iso_utc(text: str) -> float:
    """The epoch seconds of an `iso_utc` string."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def encode(payload: dict[str, Any]) -> bytes:
    """Compact UTF-8 JSON: the wire form of every JSON payload."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


@dataclass(frozen=True, slots=True)
class Utterance:
    """A final, diarized utterance. (meeting_id, seq) identifies it, also across redeliveries."""

    meeting_id: str
    seq: int
    speaker: str
    speaker_epoch: int
    text: str
    start: float  # wall clock of its first sample, epoch seconds
    end: float
    offset_ms: int  # within the cloud session's audio stream
    duration_ms: int
    language: str
    room: str
    # The wall clock was known to be synchronised (NTP) when start and end were computed, at publication.
    clock_synchronized: bool = True
    # The name given to this voice (meeting, epoch, label) when it was published, or by the record later.
    speaker_name: str | None = None
    late: bool = False  # its audio waited in the outage buffer: published after the service came back
    late_by_s: float | None = None  # when late: from the end of its speech to its publication

    def to_payload(self) -> dict[str, Any]:
        return {
            "event_type": UTTERANCE_EVENT_TYPE,
            "room": self.room,
            "meeting_id": self.meeting_id,
            "seq": self.seq,
            "speaker": self.speaker,
            "speaker_epoch": self.speaker_epoch,
            "text": self.text,
            "start": iso_utc(self.start),
            "end": iso_utc(self.end),
            "offset_ms": self.offset_ms,
            "duration_ms": self.duration_ms,
            "language": self.language,
            "clock_synchronized": self.clock_synchronized,
            "speaker_name": self.speaker_name,
            "late": self.late,
            "late_by_s": self.late_by_s,
        }


@dataclass(frozen=True, slots=True)
class Partial:
    """Text recognised so far in the phrase in flight; replaced by later partials and the final."""

    meeting_id: str
    speaker: str | None  # None unless the service diarizes intermediate results
    text: str
    start: float
    room: str
    speaker_name: str | None = None  # the name given to that voice, if any

    def to_payload(self) -> dict[str, Any]:
        return {
            "room": self.room,
            "meeting_id": self.meeting_id,
            "speaker": self.speaker,
            "speaker_name": self.speaker_name,
            "text": self.text,
            "start": iso_utc(self.start),
        }


@dataclass(frozen=True, slots=True)
class SpeakerMap:
    """A meeting's voices and the names given them: the running meeting's is retained on `<base>/speakers`.

    `speakers` holds (speaker_epoch, label, name or None) for every voice heard (and every one named), in the
    order they were first heard; `speaker_epoch` is the running meeting's current epoch. Between meetings
    `meeting_id` and `speaker_epoch` are None and `speakers` is empty. `running` False: a past meeting's names
    changed (the journal has them already; the page shows them).
    """

    room: str
    meeting_id: str | None
    speaker_epoch: int | None
    speakers: tuple[tuple[int, str, str | None], ...] = ()
    running: bool = True

    def names(self) -> list[dict[str, Any]]:
        return [{"speaker_epoch": epoch, "speaker": label, "name": name} for epoch, label, name in self.speakers]

    def to_payload(self) -> dict[str, Any]:
        return {
            "room": self.room,
            "meeting_id": self.meeting_id,
            "speaker_epoch": self.speaker_epoch,
            "speakers": self.names(),
        }


@dataclass(frozen=True, slots=True)
class StateMessage:
    """The daemon's true state; `request_id` echoes the command that caused it."""

    state: str
    since: float
    meeting_id: str | None
    speaker_epoch: int | None
    request_id: str | None
    detail: str
    room: str
    audio: str = "waiting"  # the audio source: waiting, flowing, lost, ended (core.table.AudioStatus)
    audio_detail: str = ""
    clock_synchronized: bool = True  # the wall clock is known to be synchronised (system/timesync.py)
    storage: str = "ok"  # the journal: ok, or failing (records are kept in memory until the disk takes them)
    storage_detail: str = ""
    reason: str | None = None  # recovering: "stalled" or "lost"; failed: "refused"

    def to_payload(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "since": iso_utc(self.since),
            "room": self.room,
            "meeting_id": self.meeting_id,
            "speaker_epoch": self.speaker_epoch,
            "request_id": self.request_id,
            "detail": self.detail,
            "reason": self.reason,
            "audio": {"status": self.audio, "detail": self.audio_detail},
            "clock_synchronized": self.clock_synchronized,
            "storage": {"status": self.storage, "detail": self.storage_detail},
        }


@dataclass(frozen=True, slots=True)
class Event:
    """Something worth telling a dashboard: an error, a refused command, a reconnect, a drop."""

    kind: str
    detail: dict[str, Any] | str
    at: float
    room: str
    request_id: str | None = None
    level: Level = "info"

    def to_payload(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "level": self.level,
            "at": iso_utc(self.at),
            "room": self.room,
            "request_id": self.request_id,
            "detail": self.detail,
        }


@dataclass(frozen=True, slots=True)
class AudioStats:
    """What the service is being sent (what Azure bills), and the device's diagnostics; retained `<base>/stats`.

    The owner fills the audio part; the MQTT link adds `outbox_waiting` (the utterances the journal holds
    for the broker).
    """

    sending: bool  # speech is being sent right now (the voice stage is past an onset)
    sent_today_s: float  # audio sent since local midnight: speech, pre-roll, hangover, tails, keep-alives
    sent_meeting_s: float | None  # in the meeting in progress; None without a meeting
    audio_overflows: int  # times the capture device dropped samples since start
    at: float
    room: str
    waiting_s: float = 0.0  # audio kept in the outage buffer that no session was sent yet

    def to_payload(self, outbox_waiting: int | None = None) -> dict[str, Any]:
        return {
            "room": self.room,
            "at": iso_utc(self.at),
            "sending": self.sending,
            "audio_sent_today_s": round(self.sent_today_s, 2),
            "audio_sent_meeting_s": None if self.sent_meeting_s is None else round(self.sent_meeting_s, 2),
            "audio_overflows": self.audio_overflows,
            "outbox_waiting": outbox_waiting,
            "audio_waiting_s": round(self.waiting_s, 1),
        }
