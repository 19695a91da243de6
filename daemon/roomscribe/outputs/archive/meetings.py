"""What the meeting record gives back: meetings, their pauses, epochs and lost spans, and the errors of
looking one up.

Plain records, no SQL: the journal (outputs/journal/) writes, and its queries build these.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from roomscribe.core.records import Utterance, iso_utc

MIN_PREFIX = 4  # shorter id prefixes are refused: too easy to hit the wrong meeting


class UnknownMeeting(LookupError):
    def __init__(self, reference: str, why: str = "no such meeting in the journal"):
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
class LostSpan:
    """Captured audio that could not be transcribed (an `audio_lost` event): when, how long, why."""

    start: float
    end: float
    seconds: float
    reason: str


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
    lost_seconds: float = 0.0  # captured audio that could not be transcribed (audio_lost events)
    lost_spans: int = 0
    names: tuple[tuple[int, str, str], ...] = ()  # (speaker_epoch, label, name) of the voices given a name

    def name_of(self, epoch: int, label: str) -> str | None:
        return next((name for e, l, name in self.names if (e, l) == (epoch, label)), None)

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
            "speakers": [{"speaker_epoch": epoch, "speaker": label, "name": self.name_of(epoch, label)}
                         for epoch, label in self.speakers],
            "paused_seconds": round(self.paused_seconds, 3),
            "audio_seconds": round(self.audio_seconds, 3),
            "lost_seconds": round(self.lost_seconds, 3),
            "lost_spans": self.lost_spans,
        }


@dataclass(frozen=True, slots=True)
class MeetingRecord:
    """Everything kept about one meeting, in time order: what the exports are made of."""

    meeting: Meeting
    pauses: tuple[Pause, ...]
    epochs: tuple[tuple[int, float], ...]  # (speaker_epoch, first seen at)
    utterances: tuple[Utterance, ...]
    lost: tuple[LostSpan, ...] = ()


def meeting_from_row(row: tuple, now: float) -> Meeting:
    """A Meeting from a row of journal/queries.py's MEETING_SUMMARY; an open pause counts up to `now`."""
    (meeting_id, room, start, end, audio_s, paused_s, count, epochs, speakers, open_pause, lost_s, lost_n,
     names) = row
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
        lost_seconds=lost_s, lost_spans=lost_n,
        names=tuple(sorted(((int(e), str(l), str(n)) for e, l, n in json.loads(names)), key=_speaker_order))
        if names else (),
    )


def _speaker_order(pair: tuple) -> tuple:
    epoch, label = pair[:2]
    prefix, _, number = label.rpartition("-")
    return (epoch, prefix, int(number)) if number.isdigit() else (epoch, label, 0)
