"""The speech session's events on the owner's loop: utterances and partials for the output, answers and
acknowledgements for the outage buffer, losses and the service's idle closes for the machine."""

from __future__ import annotations

import logging
from typing import Callable

from roomscribe.app.audio_path import AudioPath
from roomscribe.app.publisher import Publisher
from roomscribe.app.sessions import SessionBook, SessionKeeper
from roomscribe.core.audio_format import BYTES_PER_SECOND
from roomscribe.core.machine import MeetingMachine
from roomscribe.core.records import SPEECH_CONNECTED, SPEECH_DISCONNECTED
from roomscribe.core.table import Session, State
from roomscribe.speech.session import (
    Acknowledged,
    Canceled,
    ConnectionChanged,
    SessionEvent,
    SpeechSession,
    Transcribed,
    Transcribing,
)

log = logging.getLogger("roomscribe.app.daemon")  # the owner's log, as before the split

# While no audio is written, the service closes the idle socket (every 5 minutes) and the SDK
# reconnects; after 5 such closes in a row it stops silently and would never send audio again. The
# daemon releases the session before that, so a resume opens a working one.
IDLE_CLOSES_BEFORE_RELEASE = 3
# An utterance of another session that starts this much before the end of the last one published was
# published already (a session given up while its answer was on the way, and the audio sent again). Both
# are placed in the outgoing audio (core/backlog.py positions), never by their wall-clock times, which a
# step of the clock between the two would put out of order.
DUPLICATE_OVERLAP_BYTES = BYTES_PER_SECOND // 10


class SpeechEvents:
    def __init__(self, sessions: SessionKeeper, audio_path: AudioPath, publish: Publisher, machine: MeetingMachine,
                 run_effects: Callable[[], None]):
        self._sessions = sessions
        self._audio_path = audio_path
        self._publish = publish
        self._machine = machine
        self._run_effects = run_effects
        self.closes_while_paused = 0  # the owner resets it whenever the gate opens
        self._last_published: dict[str, tuple[SpeechSession, int]] = {}  # meeting → (session, end of its audio)

    def handle(self, event: SessionEvent) -> None:
        book = self._sessions.book(event.session)
        if book is None:
            return  # a session we already closed: late events mean nothing now
        current = event.session is self._sessions.current
        if isinstance(event, Transcribed):
            self._final(event, book, current)
        elif isinstance(event, Acknowledged):
            if current:
                self._answered(event.session)
            self._audio_path.acknowledged(book.stream, event.offset_ticks + event.duration_ticks)
        elif isinstance(event, Transcribing):
            if current:
                self._answered(event.session)
            # A partial of audio that waited would flash past long after it was said: its final says it all.
            if not book.abandoned and not self._audio_path.is_late(book.stream, event.offset_ticks, 0):
                start, _ = self._audio_path.wall_span(book.timeline, event.offset_ticks, 0)
                self._publish.partial(event, book.meeting_id, start)
        elif isinstance(event, Canceled):
            self._canceled(event, book, current)
        elif isinstance(event, ConnectionChanged) and current:
            if event.connected:
                self._answered(event.session, connection=True)
            else:
                self._publish.speech_connection(SPEECH_DISCONNECTED)
                self._count_close_while_paused()

    def _final(self, event: Transcribed, book: SessionBook, current: bool) -> None:
        if book.abandoned:
            log.debug("dropped a result of a session given up: its audio went to the next session")
            return
        if current:
            self._answered(event.session)
        self._audio_path.acknowledged(book.stream, event.offset_ticks + event.duration_ticks)
        start, end = self._audio_path.positions(book.stream, event.offset_ticks, event.duration_ticks)
        last = self._last_published.get(book.meeting_id)
        if last is not None and last[0] is not event.session and start < last[1] - DUPLICATE_OVERLAP_BYTES:
            log.warning("dropped a result that repeats one already published: %r", event.text[:60])
            return
        self._last_published[book.meeting_id] = (event.session, end)
        span = self._audio_path.wall_span(book.timeline, event.offset_ticks, event.duration_ticks)
        late = self._audio_path.is_late(book.stream, event.offset_ticks, event.duration_ticks)
        self._publish.utterance(event, book.meeting_id, span, late=late)

    def _canceled(self, event: Canceled, book: SessionBook, current: bool) -> None:
        if event.reason == "EndOfStream":
            self._audio_path.acknowledged_all(book.stream)  # a finished stream: the service answered all of it
            return
        if book.closing or not current:
            return
        log.warning("speech session canceled: %s %s", event.code, event.details)
        self._machine.session_lost(code=event.code, reason=event.details, retryable=event.retryable)
        self._run_effects()

    def _answered(self, session: SpeechSession, *, connection: bool = False) -> None:
        """The current session's service answered: what waited goes out, and a session not yet (or no
        longer) answering is ready."""
        self._audio_path.answered(session, connection=connection)
        self._publish.speech_connection(SPEECH_CONNECTED)
        if self._machine.session in (Session.OPENING, Session.STALLED):
            self._machine.session_ready()
            self._run_effects()

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
