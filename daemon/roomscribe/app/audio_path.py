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

With silence suppression on, live audio that passed the gate goes through the voice stage
(core/voice_filter.py) before the push stream: only speech, its pre-roll and its hangover are written.
Closing the gate resets the stage under the same lock, so its pre-roll never spans a pause. While the
stage sends nothing, the owner's `keep_alive` writes 100 ms of silence every few minutes, so the
service does not close the idle connection and the speaker labels live on.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Callable

from roomscribe.core.audio_format import CHUNK_BYTES, AudioChunk, bytes_to_seconds
from roomscribe.core.gate import AudioGate, GateStats, Write
from roomscribe.core.timeline import Timeline
from roomscribe.core.voice_filter import VoiceStage

# The SDK sends whole 100 ms frames: a keep-alive of one frame is the least that reaches the service.
KEEPALIVE_CHUNKS = 10
# Silence after the voice stage's hangover, so a phrase ends promptly at the service (100 ms: measured
# against audio sent, bench/bench_vad.py).
PHRASE_TAIL_CHUNKS = 10


@dataclass(frozen=True, slots=True)
class Activity:
    """What went to the service so far, for the owner's accounting (cost) and the `sending` flag."""

    sent_bytes: int  # every byte written to a push stream: speech, pre-roll, hangover, tails, keep-alives
    sending: bool  # speech is being sent right now (always True while the gate is open without a voice stage)


class AudioPath:
    def __init__(self, gate: AudioGate, voice: VoiceStage | None = None, *, clock=time.monotonic,
                 wall_offset: Callable[[], float] | None = None):
        """`wall_offset`: the owner's wall-clock offset (core/clock.py WallClock), read when a span is mapped."""
        self._lock = threading.Lock()
        self._gate = gate
        self._voice = voice
        self._clock = clock
        self._wall_offset = wall_offset
        self._session = None  # has write(pcm) and written_bytes: speech.session.SpeechSession
        self._timeline: Timeline | None = None
        self._sent = 0
        self._last_write = clock()
        self._phrase_tail = 0  # silent chunks still owed to the phrase the voice stage stopped sending

    # -- the capture thread ----------------------------------------------------------------------

    def feed(self, chunk: AudioChunk) -> bool:
        """Pass one captured chunk; True if the gate took it live (a file source starts playing on the first
        True), whether or not the voice stage then sends it."""
        with self._lock:
            writes = self._gate.process(chunk)
            taken = bool(writes) and writes[-1].live
            self._write(self._through_voice(writes) if taken and self._voice is not None else writes)
            return taken

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
        """Close the gate; with `tail`, end the phrase in flight with silence (see AudioGate.close).

        With a voice stage, only a phrase that is being sent needs a tail: suppressed audio left none.
        """
        with self._lock:
            written = self._session.written_bytes if self._session is not None else 0
            if self._voice is not None:
                tail = tail and (self._voice.sending or self._phrase_tail > 0)
                self._phrase_tail = 0
                self._voice.reset()  # the pre-roll never spans a closed gate
            self._write(self._gate.close(tail=tail, stream_bytes=written, at_once=at_once))

    def keep_alive(self, idle_seconds: float, wall_now: float) -> bool:
        """Write 100 ms of silence if the gate is open and nothing was written for `idle_seconds`; True if it did."""
        with self._lock:
            if self._session is None or not self._gate.is_open or self._clock() - self._last_write < idle_seconds:
                return False
            step, mono = bytes_to_seconds(CHUNK_BYTES), self._clock()
            self._write([Write(bytes(CHUNK_BYTES), wall_now + i * step, live=False, monotonic=mono + i * step)
                         for i in range(KEEPALIVE_CHUNKS)])
            return True

    def activity(self) -> Activity:
        with self._lock:
            return Activity(self._sent, self._gate.is_open and (self._voice is None or self._voice.sending))

    def wall_span(self, timeline: Timeline, offset_ticks: int, duration_ticks: int) -> tuple[float, float]:
        """Timeline.wall_span on the owner's wall clock, read while no write appends to it."""
        offset = self._wall_offset() if self._wall_offset is not None else None
        with self._lock:
            return timeline.wall_span(offset_ticks, duration_ticks, offset)

    @property
    def is_open(self) -> bool:
        return self._gate.is_open

    @property
    def stats(self) -> GateStats:
        with self._lock:
            return self._gate.stats

    @property
    def tail_chunks(self) -> int:
        """A pause tail's length, in chunks of silence (for the owner's diagnostics; fixed when built)."""
        return self._gate.tail_chunks

    @property
    def tail_pending(self) -> bool:
        """A paced pause tail still has silence to write (for the owner's diagnostics)."""
        with self._lock:
            return self._gate.tail_pending

    def _through_voice(self, writes: list[Write]) -> list[Write]:
        out = []
        for write in writes:
            if not write.live:
                out.append(write)
                continue
            was_sending = self._voice.sending
            chunks = self._voice.process(AudioChunk(write.pcm, write.wall_clock, write.monotonic))
            if chunks:
                self._phrase_tail = 0  # speech again: it continues the phrase or starts the next
                out += [Write(chunk.pcm, chunk.captured_at, live=True, monotonic=chunk.captured_mono) for chunk in chunks]
            elif was_sending:
                # The hangover is over. The service ends a phrase after its segmentation silence; the
                # detector hears a voice 0.4-0.7 s past its end, so hangover and that lag give it 0.67 s or
                # more (docs/vad.md). PHRASE_TAIL_CHUNKS of digital silence in place of the next suppressed
                # chunks add a margin, so every phrase ends promptly; no captured byte is in that silence.
                self._phrase_tail = PHRASE_TAIL_CHUNKS
            if not chunks and self._phrase_tail:
                self._phrase_tail -= 1
                out.append(Write(bytes(len(write.pcm)), write.wall_clock, live=False, monotonic=write.monotonic))
        return out

    def _write(self, writes: list[Write]) -> None:
        session = self._session
        if session is None or not writes:
            return
        for write in writes:
            session.write(write.pcm)
            self._timeline.append(write)
            self._sent += len(write.pcm)
        self._last_write = self._clock()
