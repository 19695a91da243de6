"""The owner's names for the voices: the running meeting's map, and naming requests from every way in.

A name belongs to one meeting, one speaker epoch and one label (core/names.py). The owner heard every
voice of the running meeting (a meeting never outlives the process: a restart ends it), so it decides
naming there itself, at once, whatever the disk does: `SpeakerNames` holds the voices heard and their
names, stamps `speaker_name` on the utterances and partials published after a naming, and hands the
whole map to the output (`publish_speakers`: the journal keeps it, the MQTT link retains it on
`<base>/speakers`, the page shows it) whenever it changes: a meeting starts or ends, its speaker epoch
changes, a voice is first heard, a voice is named.

A voice of a meeting that ended is named by the record (outputs/base.py `SpeakerRecord`, the journal's
writer: it knows which voices spoke there), and the answer comes back to this loop. Either way a naming
is answered by a `speaker_named` event, or by a `command_refused` event that changes nothing, with the
request's request_id.

Owner's loop only.
"""

from __future__ import annotations

import logging
from concurrent.futures import Future
from typing import Callable

from roomscribe.core.names import (
    UNATTRIBUTED,
    IsRunning,
    Named,
    NamingRefused,
    NamingResult,
    SpeakerNaming,
    unknown_speaker,
)
from roomscribe.core.records import SpeakerMap
from roomscribe.outputs.base import Output, SpeakerRecord

log = logging.getLogger(__name__)


class SpeakerNames:
    """The running meeting's voices, in the order first heard, and the names given them."""

    def __init__(self, room: str, output: Output):
        self._room = room
        self._output = output
        self._meeting_id: str | None = None
        self._epoch: int | None = None
        self._voices: dict[tuple[int, str], str | None] = {}
        self._announced = False  # the first map goes out at start: a retained one of an earlier run is stale

    @property
    def room(self) -> str:
        return self._room

    @property
    def meeting_id(self) -> str | None:
        return self._meeting_id

    @property
    def epoch(self) -> int | None:
        return self._epoch

    def follow(self, meeting_id: str | None, epoch: int | None) -> None:
        """The state the owner publishes: a new meeting starts with no voices; a change is published."""
        if meeting_id != self._meeting_id:
            self._voices = {}
        if (meeting_id, epoch) != (self._meeting_id, self._epoch) or not self._announced:
            self._meeting_id, self._epoch = meeting_id, epoch if meeting_id else None
            self._publish()

    def heard(self, meeting_id: str, epoch: int, speaker: str) -> str | None:
        """A final utterance of this voice is being published: its name (None: none given)."""
        if meeting_id != self._meeting_id or speaker == UNATTRIBUTED:
            return None  # a late result of a meeting that has ended, or words nobody was found to say
        key = (epoch, speaker)
        if key not in self._voices:
            self._voices[key] = None
            self._publish()
        return self._voices[key]

    def name_of(self, meeting_id: str, epoch: int, speaker: str | None) -> str | None:
        if meeting_id != self._meeting_id or speaker is None:
            return None
        return self._voices.get((epoch, speaker))

    def name(self, epoch: int, speaker: str, name: str | None) -> Named | NamingRefused:
        """Name a voice heard in the running meeting (None takes the name away); the map is published."""
        meeting_id = self._meeting_id  # voices are heard only while a meeting runs
        if meeting_id is None or (epoch, speaker) not in self._voices:
            return unknown_speaker(speaker, epoch, [e for e, label in self._voices if label == speaker])
        previous = self._voices[(epoch, speaker)]
        self._voices[(epoch, speaker)] = name
        if name != previous:
            self._publish()
        return Named(meeting_id, epoch, speaker, name, previous, self.snapshot().speakers, running=True)

    def snapshot(self) -> SpeakerMap:
        return SpeakerMap(self._room, self._meeting_id, self._epoch,
                          tuple((epoch, label, name) for (epoch, label), name in self._voices.items()))

    def _publish(self) -> None:
        self._announced = True
        self._output.publish_speakers(self.snapshot())


class Naming:
    """Naming requests (MQTT, the page, `roomscribe name`, Home Assistant): decided here for the running
    meeting, by the record for a past one, answered by an event either way."""

    def __init__(self, names: SpeakerNames, output: Output, record: SpeakerRecord | None,
                 event: Callable[..., None], handover: Callable[[Callable], Callable]):
        """`event(kind, detail, request_id, level)`: the publisher's; `handover(handler)`: a callback for
        another thread that runs `handler(item)` on the owner's loop."""
        self._names = names
        self._output = output
        self._record = record
        self._event = event
        self._handover = handover

    def take(self, naming: SpeakerNaming) -> None:
        running = self._names.meeting_id
        reference = naming.meeting_id
        if reference in (None, "current") or (running is not None and reference in (running, "last")):
            if running is None:
                return self._refuse(naming, "no meeting is running: to name a voice of a past meeting, give "
                                            "its meeting_id (last, an id or a prefix of one)")
            return self._name_running(naming)
        if self._record is None:
            return self._refuse(naming, "this daemon keeps no record of past meetings")
        try:
            future = self._record.name_speaker(naming, running)
        except Exception as exc:  # noqa: BLE001  (the record failing is an answer, not a crash)
            log.exception("naming in the record failed")
            return self._refuse(naming, f"the record could not be asked: {type(exc).__name__}")
        future.add_done_callback(self._handover(lambda done: self._answered(naming, done)))

    def _name_running(self, naming: SpeakerNaming) -> None:
        epoch = naming.speaker_epoch if naming.speaker_epoch is not None else self._names.epoch
        if epoch is None:  # a running meeting has its epoch: take() asked for one
            return self._refuse(naming, "no meeting is running")
        self._answer(naming, self._names.name(epoch, naming.speaker, naming.name))

    def _answered(self, naming: SpeakerNaming, future: Future) -> None:
        """The record's answer, on the owner's loop."""
        try:
            result: NamingResult = future.result()
        except Exception as exc:  # noqa: BLE001  (a failed write: nothing was named)
            log.warning("naming %s in the record failed: %s", naming.speaker, exc)
            return self._refuse(naming, f"the journal could not store it ({type(exc).__name__}: {exc})")
        if isinstance(result, IsRunning):
            if result.meeting_id != self._names.meeting_id:
                return self._refuse(naming, "the meeting ended meanwhile: send the name again")
            return self._name_running(naming)
        if isinstance(result, Named):  # the page shows a past meeting's new names where it has it open
            self._output.publish_speakers(SpeakerMap(self._names.room, result.meeting_id, None,
                                                     result.speakers, running=False))
        self._answer(naming, result)

    def _answer(self, naming: SpeakerNaming, result: Named | NamingRefused) -> None:
        if isinstance(result, NamingRefused):
            return self._refuse(naming, result.reason)
        log.info("named %s of speaker epoch %d in meeting %s: %r (was %r)", result.speaker, result.speaker_epoch,
                 result.meeting_id, result.name, result.previous)
        self._event("speaker_named", result.detail(), naming.request_id)

    def _refuse(self, naming: SpeakerNaming, reason: str) -> None:
        log.info("refused naming %s: %s", naming.speaker, reason)
        self._event("command_refused", {"command": naming.command, "reason": reason}, naming.request_id, "warning")
