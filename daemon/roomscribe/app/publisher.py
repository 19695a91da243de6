"""The owner's records, built and handed to the output: state, events, utterances, partials, the voices' names.

Called on the owner's loop only. The output (outputs/base.py) queues each record for its own
thread; the notifier (system/notifier.py) mirrors the state in systemd's STATUS=. The running
meeting's names (app/speakers.py) follow the state and the utterances published, and name them.
"""

from __future__ import annotations

import logging
from typing import Callable

from roomscribe.app.speakers import SpeakerNames
from roomscribe.config import Settings
from roomscribe.core.machine import MeetingMachine
from roomscribe.core.records import Event, Partial, StateMessage, Utterance, iso_utc
from roomscribe.outputs.base import Output, StorageReport
from roomscribe.speech.session import Transcribed, Transcribing
from roomscribe.system.notifier import ServiceNotifier

log = logging.getLogger("roomscribe.app.daemon")  # the owner's log, as before the split


class Publisher:
    def __init__(self, settings: Settings, output: Output, notifier: ServiceNotifier | None,
                 clock: Callable[[], float]):
        self._settings = settings
        self._output = output
        self._notifier = notifier
        self._clock = clock
        self._seq: dict[str, int] = {}
        self._speech_connection: str | None = None  # nothing said yet: the first value is published
        self.utterances_published = 0
        self.clock_synchronized = False  # set by the owner's clock watch (app/clockwatch.py)
        self._storage: tuple[bool, str] = (True, "")  # the journal stores (ok), or why not
        self.speakers = SpeakerNames(settings.room, output)  # the running meeting's voices and names

    def state(self, m: MeetingMachine, request_id: str | None = None) -> None:
        message = StateMessage(
            state=m.state.value,
            since=m.since,
            meeting_id=m.meeting_id,
            speaker_epoch=m.speaker_epoch,
            request_id=request_id or m.request_id,
            detail=m.detail,
            room=self._settings.room,
            audio=m.audio.value,
            audio_detail=m.audio_detail,
            clock_synchronized=self.clock_synchronized,
            storage="ok" if self._storage[0] else "failing",
            storage_detail=self._storage[1],
            reason=m.reason,
        )
        self._output.publish_state(message)
        self.speakers.follow(m.meeting_id, m.speaker_epoch)
        if self._notifier:
            status = f"{m.state.value}: {m.detail}" if m.detail and m.detail != m.state.value else m.state.value
            self._notifier.status(status if self._storage[0] else f"{status}; storage failing: {self._storage[1]}")

    def storage(self, report: StorageReport, m: MeetingMachine) -> None:
        """The journal's report: its event, and the state again (Home Assistant's Storage sensor, STATUS=)
        when storing begins or stops failing."""
        if report.event is not None:
            self._output.publish_event(report.event)
        storage = (report.ok, "" if report.ok else report.detail)
        if storage != self._storage:
            self._storage = storage
            self.state(m)

    def event(self, kind: str, detail, request_id: str | None = None, level: str = "info") -> None:
        self._output.publish_event(
            Event(kind=kind, detail=detail, at=self._clock(), room=self._settings.room, request_id=request_id, level=level)
        )

    def speech_connection(self, value: str) -> None:
        """`<base>/speech_connection`: connected, stalled or disconnected (core/records.py), when it changes."""
        if value != self._speech_connection:
            self._speech_connection = value
            self._output.set_speech_connected(value)

    def audio_lost(self, meeting_id: str | None, start: float, end: float, seconds: float, reason: str) -> None:
        """Captured audio that will never be transcribed: its capture span (UTC epoch seconds on the owner's
        wall clock), its audio seconds, and why (reason: buffer_full, meeting_ended, service_refused)."""
        log.warning("audio lost (%s): %.1f s captured from %s to %s", reason, seconds, iso_utc(start), iso_utc(end))
        self.event("audio_lost", {"meeting_id": meeting_id, "start": round(start, 3), "end": round(end, 3),
                                  "seconds": round(seconds, 2), "reason": reason}, level="warning")

    def utterance(self, event: Transcribed, meeting_id: str, span: tuple[float, float], *, late: bool = False) -> None:
        start, end = span
        seq = self._seq.get(meeting_id, 0) + 1
        self._seq[meeting_id] = seq
        utterance = Utterance(
            meeting_id=meeting_id,
            seq=seq,
            speaker=event.speaker,
            speaker_epoch=event.session.epoch,
            text=event.text,
            start=start,
            end=end,
            offset_ms=event.offset_ticks // 10_000,
            duration_ms=event.duration_ticks // 10_000,
            # Detected with language identification (docs/words.md), else the one locale recognized.
            language=event.language or self._settings.speech.locales[0],
            room=self._settings.room,
            clock_synchronized=self.clock_synchronized,
            speaker_name=self.speakers.heard(meeting_id, event.session.epoch, event.speaker),
            late=late,
            late_by_s=round(max(self._clock() - end, 0.0), 1) if late else None,
        )
        log.info("utterance %d %s%s: %s", seq, event.speaker, " (late)" if late else "", event.text)
        self._output.submit_transcript(utterance)
        self.utterances_published += 1

    def partial(self, event: Transcribing, meeting_id: str, start: float) -> None:
        # The SDK says "Unknown" while it has no speaker for the words so far (always without
        # intermediate diarization); the contract says null then.
        speaker = None if event.speaker == "Unknown" else event.speaker
        self._output.publish_partial(
            Partial(meeting_id=meeting_id, speaker=speaker, text=event.text, start=start, room=self._settings.room,
                    speaker_name=self.speakers.name_of(meeting_id, event.session.epoch, speaker))
        )
