"""What the archive gives back: meetings, their pauses and epochs, and the errors of looking one up.

Plain records, no SQL: the store (store.py) writes and deletes, reading.py reads and builds these.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from roomscribe.core.records import Utterance, iso_utc

MIN_PREFIX = 4  # shorter id prefixes are refused: too easy to hit the wrong meeting


class UnknownMeeting(LookupError):
    def __init__(self, reference: str, why: str = "no such meeting in the archive"):
        super().__init__(f"{reference}: {why}")
        self.reference = reference


class AmbiguousMeeting(LookupError):
    def __init__(self, reference: str, candidates: list[str]):
        super().__init__(f"{reference}: matches {len(candidates)} meetings ({', '.join(candidates[:5])}); give more of the id")
        self.reference = reference
        self.candidates = candidates


@dataclass(frozen=True, slots=True)
class Pause:
    start: float
    end: float | None  # None while the meeting is paused


@dataclass(frozen=True, slots=True)
class Meeting:
    """One meeting as the list shows it."""

    id: str
    room: str
    start: float
    end: float | None  # None while it runs (or if the daemon died and nobody closed it yet)
    utterances: int
    speaker_epochs: tuple[int, ...]
    speakers: tuple[tuple[int, str], ...]  # (speaker_epoch, label): Guest-1 of epoch 1 is not Guest-1 of epoch 2
    paused_seconds: float  # an open pause counts up to the moment of the query
    audio_seconds: float  # audio sent to the speech service

    @property
    def running(self) -> bool:
        return self.end is None

    def to_json(self) -> dict[str, Any]:
        return {
            "meeting_id": self.id,
            "room": self.room,
            "start": iso_utc(self.start),
            "end": iso_utc(self.end) if self.end is not None else None,
            "utterances": self.utterances,
            "speaker_epochs": list(self.speaker_epochs),
            "speakers": [{"speaker_epoch": epoch, "speaker": label} for epoch, label in self.speakers],
            "paused_seconds": round(self.paused_seconds, 3),
            "audio_seconds": round(self.audio_seconds, 3),
        }


@dataclass(frozen=True, slots=True)
class MeetingRecord:
    """Everything kept about one meeting, in time order: what the exports are made of."""

    meeting: Meeting
    pauses: tuple[Pause, ...]
    epochs: tuple[tuple[int, float], ...]  # (speaker_epoch, first seen at)
    utterances: tuple[Utterance, ...]


def meeting_from_row(row: tuple, now: float) -> Meeting:
    """A Meeting from a row of reading.MEETING_SUMMARY; an open pause counts up to `now`."""
    (meeting_id, room, start, end, audio_s, paused_s, count, epochs, speakers, open_pause) = row
    if open_pause is not None:
        paused_s += max(0.0, (end if end is not None else now) - open_pause)
    pairs = []
    for item in (speakers.split(",") if speakers else []):
        epoch, _, label = item.partition(":")
        pairs.append((int(epoch), label))
    return Meeting(
        id=meeting_id, room=room, start=start, end=end, utterances=count,
        speaker_epochs=tuple(sorted(int(e) for e in epochs.split(","))) if epochs else (),
        speakers=tuple(sorted(pairs, key=_speaker_order)), paused_seconds=paused_s, audio_seconds=audio_s,
    )


def _speaker_order(pair: tuple[int, str]) -> tuple:
    epoch, label = pair
    prefix, _, number = label.rpartition("-")
    return (epoch, prefix, int(number)) if number.isdigit() else (epoch, label, 0)
