"""The owner's records, built and handed to the output: state, events, utterances, partials.

Called on the owner's loop only. The output (outputs/base.py) queues each record for its own
thread; the notifier (system/notifier.py) mirrors the state in systemd's STATUS=.
"""

from __future__ import annotations

import logging
from typing import Callable

from roomscribe.config import Settings
from roomscribe.core.machine import MeetingMachine
from roomscribe.core.backlog import LostSpan
from roomscribe.core.records import Event, Partial, StateMessage, Utterance
from roomscribe.outputs.base import Output
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
            reason=m.reason,
        )
        self._output.publish_state(message)
        if self._notifier:
            self._notifier.status(f"{m.state.value}: {m.detail}" if m.detail and m.detail != m.state.value else m.state.value)

    def event(self, kind: str, detail, request_id: str | None = None, level: str = "info") -> None:
        self._output.publish_event(
            Event(kind=kind, detail=detail, at=self._clock(), room=self._settings.room, request_id=request_id, level=level)
        )

    def speech_connection(self, value: str) -> None:
        """`<base>/speech_connection`: connected, stalled or disconnected (core/records.py), when it changes."""
        if value != self._speech_connection:
            self._speech_connection = value
            self._output.set_speech_connected(value)

    def audio_lost(self, meeting_id: str | None, span: LostSpan, reason: str) -> None:
        """Captured audio that will never be transcribed, and why (reason: buffer_full, meeting_ended,
        service_refused)."""
        log.warning("audio lost (%s): %.1f s captured from %s", reason, span.seconds, span.start)
        self.event("audio_lost", {"meeting_id": meeting_id, "start": round(span.start, 3), "end": round(span.end, 3),
                                  "seconds": round(span.seconds, 2), "reason": reason}, level="warning")

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
            language=self._settings.speech.language,
            room=self._settings.room,
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
            Partial(meeting_id=meeting_id, speaker=speaker, text=event.text, start=start, room=self._settings.room)
        )
