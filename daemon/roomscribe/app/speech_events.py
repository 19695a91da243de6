"""The speech session's events on the owner's loop: utterances and partials for the output, losses
and the service's idle closes for the machine."""

from __future__ import annotations

import logging
from typing import Callable

from roomscribe.app.audio_path import AudioPath
from roomscribe.app.publisher import Publisher
from roomscribe.app.sessions import SessionKeeper
from roomscribe.core.machine import MeetingMachine
from roomscribe.core.table import State
from roomscribe.speech.session import Canceled, ConnectionChanged, SessionEvent, Transcribed, Transcribing

log = logging.getLogger(__name__)

# While no audio is written, the service closes the idle socket (every 5 minutes) and the SDK
# reconnects; after 5 such closes in a row it stops silently and would never send audio again. The
# daemon releases the session before that, so a resume opens a working one.
IDLE_CLOSES_BEFORE_RELEASE = 3


class SpeechEvents:
    def __init__(self, sessions: SessionKeeper, audio_path: AudioPath, publish: Publisher, machine: MeetingMachine,
                 run_effects: Callable[[], None]):
        self._sessions = sessions
        self._audio_path = audio_path
        self._publish = publish
        self._machine = machine
        self._run_effects = run_effects
        self.closes_while_paused = 0  # the owner resets it whenever the gate opens

    def handle(self, event: SessionEvent) -> None:
        book = self._sessions.book(event.session)
        if book is None:
            return  # a session we already closed: late events mean nothing now
        if isinstance(event, Transcribed):
            span = self._audio_path.wall_span(book.timeline, event.offset_ticks, event.duration_ticks)
            self._publish.utterance(event, book.meeting_id, span)
        elif isinstance(event, Transcribing):
            start, _ = self._audio_path.wall_span(book.timeline, event.offset_ticks, 0)
            self._publish.partial(event, book.meeting_id, start)
        elif isinstance(event, Canceled):
            if event.reason == "EndOfStream" or book.closing or event.session is not self._sessions.current:
                return
            log.warning("speech session canceled: %s %s", event.code, event.details)
            self._machine.session_lost(code=event.code, reason=event.details, retryable=event.retryable)
            self._run_effects()
        elif isinstance(event, ConnectionChanged):
            if event.session is self._sessions.current:
                self._publish.speech_connected(event.connected)
                if not event.connected:
                    self._count_close_while_paused()

    def _count_close_while_paused(self) -> None:
        if self._machine.state not in (State.PAUSED, State.NO_AUDIO):
            return
        self.closes_while_paused += 1
        if self.closes_while_paused >= IDLE_CLOSES_BEFORE_RELEASE:
            log.warning("the service closed the idle connection %d times during the pause; releasing the session",
                        self.closes_while_paused)
            self._machine.release_due(reason=f"the service closed the idle connection {self.closes_while_paused} times",
                                     from_timer=False)
            self._run_effects()
