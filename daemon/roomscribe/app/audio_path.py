"""Capture → gate → outage buffer → push stream, carried out on the capture thread; decided by the owner.

A chunk that hopped to the owner's loop before it was written woke two threads every 20 ms, and that
hop was most of what the daemon spent beyond the Speech SDK's own work (docs/BENCHMARKS.md). So the
capture thread passes each chunk through the gate and writes it to the current push stream itself.
The owner still makes every decision: it opens and closes the gate, attaches and detaches the cloud
session, says when the service answered or stalled, and reads times off the timeline. Those few calls
and the per-chunk path meet under one lock, the only state the two threads share; each call is short
(no I/O beyond the SDK's buffer copy).

Between the gate and the push stream sits the outage buffer (core/uplink.py, core/backlog.py): what
passed the gate is kept in memory until the service acknowledged it, written at once while a session
answers, and held while none does, to be sent when one answers again. It sits after the gate, so a
pause keeps out of it exactly what it keeps out of the push stream.

Order matters at the edges: the owner detaches a session before it finishes it, so the capture
thread never writes to a stream that is being closed, and a gate closed under the lock drops the
very next chunk, wherever that chunk is on its way.

With silence suppression on, live audio that passed the gate goes through the voice stage
(core/voice_filter.py) before the buffer: only speech, its pre-roll and its hangover are written.
Closing the gate resets the stage under the same lock, so its pre-roll never spans a pause. While the
stage sends nothing, the owner's `keep_alive` writes 100 ms of silence every few minutes, so the
service does not close the idle connection and the speaker labels live on.
"""

from __future__ import annotations

import functools
import struct
import threading
import time
from dataclasses import dataclass
from typing import Callable

from roomscribe.core.audio_format import (BYTES_PER_SECOND, CHUNK_BYTES, SAMPLE_WIDTH, AudioChunk, bytes_to_seconds,
                                          ticks_to_bytes)
from roomscribe.core.backlog import LostSpan, Piece
from roomscribe.core.gate import AudioGate, GateStats, Write
from roomscribe.core.timeline import Timeline
from roomscribe.core.outage_book import StreamMap
from roomscribe.core.uplink import Uplink, UplinkReport, UplinkStatus
from roomscribe.core.voice_filter import VoiceStage

# The SDK sends whole 100 ms frames: a keep-alive of one frame is the least that reaches the service.
KEEPALIVE_CHUNKS = 10
# Silence after the voice stage's hangover, so a phrase ends promptly at the service (100 ms: measured
# against audio sent, bench/bench_vad.py).
PHRASE_TAIL_CHUNKS = 10
# Without a voice stage, the stall watch times answers only to chunks this loud: a peak-to-peak swing of
# 300 (16-bit scale, about -47 dBFS; a sine with an RMS of -50 dBFS). Digital silence and a quiet room say
# nothing the service must answer.
SPEECH_SWING = 300
DEFAULT_BUFFER_BYTES = 10 * 60 * BYTES_PER_SECOND


@dataclass(frozen=True, slots=True)
class Activity:
    """What went to the service so far, for the owner's accounting (cost) and the `sending` flag."""

    sent_bytes: int  # every byte written to a push stream: speech, pre-roll, hangover, tails, keep-alives, replays
    sending: bool  # speech is being sent right now (always True while the gate is open without a voice stage)
    waiting_s: float = 0.0  # audio in the outage buffer that no session was written yet


class AudioPath:
    def __init__(self, gate: AudioGate, voice: VoiceStage | None = None, *, clock=time.monotonic,
                 wall_offset: Callable[[], float] | None = None, buffer_bytes: int = DEFAULT_BUFFER_BYTES):
        """`wall_offset`: the owner's wall-clock offset (core/clock.py WallClock), read when a span is mapped
        (a result's, a lost span's). `buffer_bytes`: the outage buffer's capacity."""
        self._lock = threading.Lock()
        self._gate = gate
        self._voice = voice
        self._clock = clock
        self._wall_offset = wall_offset
        is_speech = (lambda w: w.live) if voice is not None else (lambda w: w.live and _loud(w.pcm))
        self._uplink = Uplink(buffer_bytes, is_speech=is_speech)
        self._session = None  # has write(pcm): speech.session.SpeechSession
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
            self._keep(self._through_voice(self._voice, writes) if taken and self._voice is not None else writes)
            return taken

    # -- the owner ---------------------------------------------------------------------------------

    def attach(self, session, timeline: Timeline) -> StreamMap:
        """Audio that passes the gate goes to this session from now on, from the oldest audio no session
        acknowledged; its writes go on `timeline`. Returns where its stream lies in the outgoing stream."""
        with self._lock:
            self._session, self._timeline = session, timeline
            stream = self._uplink.attach(self._clock())
            self._write(self._uplink.pump(self._clock()))
            return stream

    def detach(self, *, finish_tail: bool = False, abandoned: bool = False, ending: bool = False) -> None:
        """No more writes to the current session: after this returns it may be finished.

        With `finish_tail` (a graceful finish), what is left of a paced pause tail is written first, so a
        session finished during a pause still gets the silence that ends the phrase in flight. `ending`:
        the meeting ends with it, so it is also given what waited in the buffer, as much as the SDK takes,
        even if a pause held it. `abandoned`: the session is given up without acknowledging what it was
        sent; that audio waits here for the next session.
        """
        with self._lock:
            now = self._clock()
            if finish_tail:
                self._write(self._uplink.push(self._gate.close(tail=False, at_once=True), now))
                self._write(self._uplink.pump(now, final=ending))
            self._uplink.detach(now, abandoned=abandoned)
            self._session = self._timeline = None

    def open(self) -> None:
        with self._lock:
            self._gate.open()

    def close(self, *, tail: bool, at_once: bool = False) -> None:
        """Close the gate; with `tail`, end the phrase in flight with silence (see AudioGate.close).

        With a voice stage, only a phrase that is being sent needs a tail: suppressed audio left none.
        """
        with self._lock:
            written = self._uplink.stream_bytes_at_end()
            if self._voice is not None:
                tail = tail and (self._voice.sending or self._phrase_tail > 0)
                self._phrase_tail = 0
                self._voice.reset()  # the pre-roll never spans a closed gate
            self._keep(self._gate.close(tail=tail, stream_bytes=written, at_once=at_once))

    def keep_alive(self, idle_seconds: float, wall_now: float) -> bool:
        """Write 100 ms of silence if the gate is open and nothing was written for `idle_seconds`; True if it did."""
        with self._lock:
            if (not self._uplink.session_ready_for_keepalive or not self._gate.is_open
                    or self._clock() - self._last_write < idle_seconds):
                return False
            step, mono = bytes_to_seconds(CHUNK_BYTES), self._clock()
            self._keep([Write(bytes(CHUNK_BYTES), wall_now + i * step, live=False, monotonic=mono + i * step)
                        for i in range(KEEPALIVE_CHUNKS)])
            return True

    def activity(self) -> Activity:
        with self._lock:
            return Activity(self._sent, self._gate.is_open and (self._voice is None or self._voice.sending),
                            self._uplink.waiting_s)

    def wall_span(self, timeline: Timeline, offset_ticks: int, duration_ticks: int) -> tuple[float, float]:
        """Timeline.wall_span on the owner's wall clock, read while no write appends to it."""
        offset = self._wall_offset() if self._wall_offset is not None else None
        with self._lock:
            return timeline.wall_span(offset_ticks, duration_ticks, offset)

    def lost_times(self, span: LostSpan) -> tuple[float, float]:
        """A lost span's capture start and end on the owner's wall clock (its monotonic times with the
        offset accepted now, as `wall_span`), so a step while the audio waited skews neither."""
        return span.times(self._wall_offset() if self._wall_offset is not None else None)

    # -- the owner: what the service says ----------------------------------------------------------

    def answered(self, session, *, connection: bool = False) -> None:
        """`session`'s service answered (a result; `connection`: it took a connection). If it is the current
        session, it is written again: what waited goes out."""
        with self._lock:
            if session is self._session and session is not None:
                now = self._clock()
                self._uplink.answered(now, connection=connection)
                self._write(self._uplink.pump(now))

    def acknowledged(self, stream: StreamMap, offset_ticks: int) -> None:
        """A session's stream is acknowledged up to this offset: the buffer forgets that audio."""
        with self._lock:
            self._uplink.acknowledged(stream, ticks_to_bytes(offset_ticks))
            if self._session is not None:
                self._write(self._uplink.pump(self._clock()))

    def acknowledged_all(self, stream: StreamMap) -> None:
        """Everything written to that session was acknowledged (the SDK's end of stream)."""
        with self._lock:
            self._uplink.acknowledged(stream, stream.written)

    def pause(self, paused: bool) -> None:
        """The meeting is paused (or no longer): audio that waits is held until the resume."""
        with self._lock:
            self._uplink.pause(paused)
            if not paused and self._session is not None:
                self._write(self._uplink.pump(self._clock()))

    def stall(self) -> None:
        """The current session stalled: write it nothing more until it answers."""
        with self._lock:
            self._uplink.stall(self._clock())

    def check(self) -> UplinkReport:
        """Once in a while from the owner: write at real-time pace what waits, and report."""
        with self._lock:
            now = self._clock()
            if self._session is not None:
                self._write(self._uplink.pump(now))
            return self._uplink.check(now)

    def positions(self, stream: StreamMap, offset_ticks: int, duration_ticks: int) -> tuple[int, int]:
        """Where this part of a session's stream lies in the outgoing audio (the same for every session of
        the daemon, and free of any clock): the positions of its first byte and just after its last."""
        with self._lock:
            start = stream.position(ticks_to_bytes(offset_ticks))
            return start, start + ticks_to_bytes(max(duration_ticks, 0))

    def is_late(self, stream: StreamMap, offset_ticks: int, duration_ticks: int) -> bool:
        """Whether this part of a session's stream was delayed by an outage."""
        start, end = self.positions(stream, offset_ticks, duration_ticks)
        with self._lock:
            return self._uplink.is_late(start, end)

    def discard(self) -> tuple[list[LostSpan], LostSpan | None]:
        """Give up what the buffer keeps: the spans lost earlier and not reported yet, and the span given up now."""
        with self._lock:
            return self._uplink.discard(self._clock())

    def new_meeting(self) -> None:
        with self._lock:
            self._uplink.new_meeting()

    def outage_buffer(self) -> UplinkStatus:
        """How the outage buffer stands (for the owner's diagnostics): read, nothing taken."""
        with self._lock:
            return self._uplink.status()

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

    def _through_voice(self, voice: VoiceStage, writes: list[Write]) -> list[Write]:
        out = []
        for write in writes:
            if not write.live:
                out.append(write)
                continue
            was_sending = voice.sending
            chunks = voice.process(AudioChunk(write.pcm, write.wall_clock, write.monotonic))
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

    def _keep(self, writes: list[Write]) -> None:
        """Into the buffer; and to the session what it may be written now."""
        if writes:
            self._write(self._uplink.push(writes, self._clock()))

    def _write(self, pieces: list[Piece]) -> None:
        session = self._session
        if session is None or not pieces:
            return
        for piece in pieces:
            session.write(piece.pcm)
            self._timeline.append(Write(piece.pcm, piece.wall_clock, live=piece.speech, monotonic=piece.monotonic))
            self._sent += len(piece.pcm)
        self._last_write = self._clock()


def _loud(pcm: bytes) -> bool:
    """A swing of at least SPEECH_SWING between the highest and the lowest of every fourth sample."""
    samples = _every_fourth_sample(len(pcm) // SAMPLE_WIDTH).unpack_from(pcm)
    return bool(samples) and max(samples) - min(samples) >= SPEECH_SWING


@functools.lru_cache(maxsize=8)
def _every_fourth_sample(count: int) -> struct.Struct:
    """Reads samples 0, 4, 8, … of `count` little-endian 16-bit samples, skipping the three between.

    This runs for every captured chunk on the capture thread: one struct read of what is needed costs
    about half of copying the chunk into an array and slicing it, and reads the byte order as written.
    """
    whole, rest = divmod(count, 4)
    return struct.Struct("<" + "h6x" * whole + ("h" if rest else ""))
