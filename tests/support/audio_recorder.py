"""Collects what an audio source delivers (chunks with their arrival times, statuses) from its threads."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from roomscribe.core.audio_format import AudioChunk
from roomscribe.audio.source import SourceStatus


@dataclass(frozen=True)
class Arrival:
    chunk: AudioChunk
    received_at: float  # wall clock when the source handed the chunk over


class SourceRecorder:
    def __init__(self) -> None:
        self._lock = threading.Condition()
        self._arrivals: list[Arrival] = []
        self._statuses: list[SourceStatus] = []

    def on_chunk(self, chunk: AudioChunk) -> None:
        with self._lock:
            self._arrivals.append(Arrival(chunk, time.time()))
            self._lock.notify_all()

    def on_status(self, status: SourceStatus) -> None:
        with self._lock:
            self._statuses.append(status)
            self._lock.notify_all()

    @property
    def arrivals(self) -> list[Arrival]:
        with self._lock:
            return list(self._arrivals)

    @property
    def chunks(self) -> list[AudioChunk]:
        return [a.chunk for a in self.arrivals]

    @property
    def statuses(self) -> list[SourceStatus]:
        with self._lock:
            return list(self._statuses)

    def kinds(self) -> list[str]:
        return [s.kind for s in self.statuses]

    def wait_for(self, condition, timeout: float, what: str) -> None:
        """Wait until condition(self) holds; fail naming `what` and what arrived so far."""
        deadline = time.monotonic() + timeout
        while not condition(self):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(
                    f"timed out after {timeout} s waiting for {what}; "
                    f"{len(self.arrivals)} chunks, statuses {self.statuses}"
                )
            with self._lock:
                self._lock.wait(min(remaining, 0.1))

    def wait_for_chunks(self, count: int, timeout: float) -> None:
        self.wait_for(lambda r: len(r.arrivals) >= count, timeout, f"{count} chunks")

    def wait_for_status(self, kind: str, timeout: float, *, count: int = 1) -> SourceStatus:
        self.wait_for(lambda r: r.kinds().count(kind) >= count, timeout, f"status {kind!r} #{count}")
        return [s for s in self.statuses if s.kind == kind][count - 1]
