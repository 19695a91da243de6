"""Capture → gate → push stream, carried out on the capture thread; decided by the owner.

A chunk that hopped to the owner's loop before it was written woke two threads every 20 ms, and that
hop was most of what the daemon spent beyond the Speech SDK's own work (docs/BENCHMARKS.md). So the
capture thread passes each chunk through the gate and writes it to the current push stream itself.
The owner still makes every decision: it opens and closes the gate, attaches and detaches the cloud
session, and reads times off the timeline. Those few calls and the per-chunk path meet under one
lock, the only state the two threads share; each call is short (no I/O beyond the SDK's buffer copy).

Order matters at the edges: the owner detaches a session before it finishes it, so the capture
thread never writes to a stream that is being closed, and a gate closed under the lock drops the
very next chunk, wherever that chunk is on its way.
"""

from __future__ import annotations

import threading

from roomscribe.core.audio_format import AudioChunk
from roomscribe.core.gate import AudioGate, GateStats, Write
from roomscribe.core.timeline import Timeline


class AudioPath:
    def __init__(self, gate: AudioGate):
        self._lock = threading.Lock()
        self._gate = gate
        self._session = None  # has write(pcm) and written_bytes: speech.session.SpeechSession
        self._timeline: Timeline | None = None

    # -- the capture thread ----------------------------------------------------------------------

    def feed(self, chunk: AudioChunk) -> bool:
        """Pass one captured chunk; True if it went out live (a file source starts playing on the first True)."""
        with self._lock:
            writes = self._gate.process(chunk)
            self._write(writes)
            return bool(writes) and writes[-1].live

    # -- the owner ---------------------------------------------------------------------------------

    def attach(self, session, timeline: Timeline) -> None:
        """Audio that passes the gate goes to this session from now on; its writes go on `timeline`."""
        with self._lock:
            self._session, self._timeline = session, timeline

    def detach(self, *, finish_tail: bool = False) -> None:
        """No more writes to the current session: after this returns it may be finished.

        With `finish_tail`, what is left of a paced pause tail is written first, so a session finished
        during a pause still gets the silence that ends the phrase in flight.
        """
        with self._lock:
            if finish_tail:
                self._write(self._gate.close(tail=False, at_once=True))
            self._session = self._timeline = None

    def open(self) -> None:
        with self._lock:
            self._gate.open()

    def close(self, *, tail: bool, at_once: bool = False) -> None:
        """Close the gate; with `tail`, end the phrase in flight with silence (see AudioGate.close)."""
        with self._lock:
            written = self._session.written_bytes if self._session is not None else 0
            self._write(self._gate.close(tail=tail, stream_bytes=written, at_once=at_once))

    def wall_span(self, timeline: Timeline, offset_ticks: int, duration_ticks: int) -> tuple[float, float]:
        """Timeline.wall_span, read while no write appends to it."""
        with self._lock:
            return timeline.wall_span(offset_ticks, duration_ticks)

    @property
    def is_open(self) -> bool:
        return self._gate.is_open

    @property
    def stats(self) -> GateStats:
        with self._lock:
            return self._gate.stats

    def _write(self, writes: list[Write]) -> None:
        session = self._session
        if session is None:
            return
        for write in writes:
            session.write(write.pcm)
            self._timeline.append(write)
