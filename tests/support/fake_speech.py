"""A speech session without the SDK (speech.session.SpeechSession), for owner-level tests.

The end-to-end tests use the real SDK against the emulator; this fake is for what they cannot reach
cheaply: the owner's bookkeeping, driven event by event. Like the SDK, it raises its events on
another thread, so the owner's hand-over is exercised too.
"""

from __future__ import annotations

import threading

from roomscribe.speech.session import (
    Acknowledged,
    Canceled,
    ConnectionChanged,
    EmitSpeechEvent,
    SessionEvent,
    Transcribed,
    Transcribing,
)


class FakeSpeechSession:
    def __init__(self, emit: EmitSpeechEvent, epoch: int, *, answers: bool = True):
        self.epoch = epoch
        self.written_bytes = 0
        self.written = bytearray()
        self.started = threading.Event()
        self.finished: bool | None = None  # graceful or not, once finished
        self.phrases: list[tuple[str, ...]] = []  # every phrase list the owner set, in order
        self._emit = emit
        self.answers = answers  # whether its service takes the connection and answers a finish
        self.finish_gate: threading.Event | None = None  # set by a test: a graceful finish waits for it

    # the protocol
    def start(self) -> None:
        self.started.set()
        if self.answers:  # as the SDK does: it connects at once, and the service takes the connection
            self.connection(True)

    def write(self, pcm: bytes) -> None:
        self.written += pcm
        self.written_bytes += len(pcm)

    def finish(self, *, graceful: bool) -> None:
        self.finished = graceful
        if graceful and self.finish_gate is not None:  # a service that takes its time to answer the rest
            assert self.finish_gate.wait(10), "the test never let the finish end"
        if graceful and self.answers:  # as the SDK does once the service answered everything sent
            self.raise_event(Canceled(self, "EndOfStream", "NoError", ""))

    def set_phrases(self, phrases: tuple[str, ...]) -> None:
        self.phrases.append(tuple(phrases))

    # the test's side: events as the SDK would raise them, from a thread of their own
    def raise_event(self, event: SessionEvent) -> None:
        thread = threading.Thread(target=self._emit, args=(event,), name="fake-sdk")
        thread.start()
        thread.join()

    def transcribed(self, text: str, speaker: str, offset_ticks: int, duration_ticks: int,
                    language: str | None = None) -> None:
        self.raise_event(Transcribed(self, text, speaker, offset_ticks, duration_ticks, language))

    def transcribing(self, text: str, speaker: str, offset_ticks: int) -> None:
        self.raise_event(Transcribing(self, text, speaker, offset_ticks))

    def no_match(self, offset_ticks: int, duration_ticks: int) -> None:
        self.raise_event(Acknowledged(self, offset_ticks, duration_ticks))

    def canceled(self, code: str, details: str = "") -> None:
        self.raise_event(Canceled(self, "Error", code, details))

    def connection(self, connected: bool) -> None:
        self.raise_event(ConnectionChanged(self, connected))


class FakeSessions:
    """A session factory that keeps what it made; `answers`: whether their service takes the connection."""

    def __init__(self, *, answers: bool = True) -> None:
        self.made: list[FakeSpeechSession] = []
        self.answers = answers

    def __call__(self, emit: EmitSpeechEvent, epoch: int) -> FakeSpeechSession:
        session = FakeSpeechSession(emit, epoch, answers=self.answers)
        self.made.append(session)
        return session
