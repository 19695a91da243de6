"""The owner's cloud sessions: the current one, a book for each not yet closed, and the workers
that start and finish them (both block for up to seconds, so never on the owner's loop)."""

from __future__ import annotations

import asyncio
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable

from roomscribe.app.audio_path import AudioPath
from roomscribe.core.timeline import Timeline
from roomscribe.core.outage_book import StreamMap
from roomscribe.speech.session import SpeechSession


@dataclass
class SessionBook:
    """What the owner keeps per cloud session: its timeline, where its stream lies in the outgoing audio,
    its meeting, and whether it is still ours."""

    timeline: Timeline
    meeting_id: str
    stream: StreamMap | None = None
    closing: bool = False
    abandoned: bool = False  # given up unfinished: what it was sent goes to the next session instead


class SessionKeeper:
    def __init__(self, audio_path: AudioPath):
        self._audio_path = audio_path
        self.current: SpeechSession | None = None
        self._books: dict[SpeechSession, SessionBook] = {}
        self._workers = ThreadPoolExecutor(max_workers=2, thread_name_prefix="speech-worker")

    def book(self, session: SpeechSession) -> SessionBook | None:
        """None for a session already closed: its late events mean nothing now."""
        return self._books.get(session)

    def open(self, loop: asyncio.AbstractEventLoop, session: SpeechSession, meeting_id: str,
             on_started: Callable[[SpeechSession, Future], None]) -> None:
        """Make `session` the current one, point the audio path at it and start it in a worker."""
        self.current = session
        book = self._books[session] = SessionBook(Timeline(), meeting_id)
        book.stream = self._audio_path.attach(session, book.timeline)
        future = loop.run_in_executor(self._workers, session.start)
        future.add_done_callback(lambda f: on_started(session, f))

    def detach(self, *, graceful: bool, ending: bool = False) -> SpeechSession | None:
        """No current session any more, and nothing more is written to the old one. Not graceful: it is
        abandoned, and its late results are dropped (the next session is sent that audio again). `ending`:
        the meeting ends with it (audio_path.py)."""
        session, self.current = self.current, None
        self._audio_path.detach(finish_tail=graceful, abandoned=not graceful, ending=ending)
        if session is not None and not graceful:
            self._books[session].abandoned = True
        return session

    def finish(self, loop: asyncio.AbstractEventLoop, session: SpeechSession | None, *, graceful: bool,
               on_closed: Callable[[SpeechSession | None], None]) -> None:
        """Finish a detached session in a worker; `on_closed` runs on the loop either way."""
        if session is None:
            loop.call_soon(on_closed, None)
            return
        self._books[session].closing = True
        future = loop.run_in_executor(self._workers, lambda: session.finish(graceful=graceful))
        future.add_done_callback(lambda f: on_closed(session))

    def forget(self, loop: asyncio.AbstractEventLoop, session: SpeechSession) -> None:
        # Drop the book only after the events the SDK queued before finishing were handled.
        loop.call_soon(self._books.pop, session, None)

    def shutdown(self) -> None:
        self._workers.shutdown(wait=False, cancel_futures=True)
