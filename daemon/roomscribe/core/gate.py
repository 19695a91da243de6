"""The gate between capture and the push stream: while it is closed, no audio leaves the device.

Every captured chunk goes through `process` (on the capture thread, see audio_path.py). What passes is
decided by order alone: a chunk that reaches the gate after `close()` returned is dropped at once,
never buffered, so a pause cannot leak audio later either; a chunk that reaches it after `open()` is
live. Capture times are labels for the timeline, never a reason to pass or drop a chunk, so a capture
clock that is wrong (a device that starts with a backlog, or delivers sparsely) cannot make the gate
send audio it should have withheld. docs/ARCHITECTURE.md gives the argument.

Closing can add a "tail" of silence, just long enough for the service to end the phrase in flight,
so the last words before a pause or stop are transcribed. A pause's tail is paced: it replaces the
chunks the closed gate drops, one silent chunk for one dropped chunk, so the push stream never runs
ahead of real time however often a controller toggles (a resume before the tail has played cancels
the rest of it). A stop, or a source that stopped delivering, needs the tail at once: it is written
in one go. The gate keeps no reference to the audio it drops.
"""

from __future__ import annotations

from dataclasses import dataclass

from roomscribe.core.audio_format import CHUNK_BYTES, CHUNK_MS, AudioChunk, bytes_to_seconds

# The Speech SDK (1.53) sends a push stream in whole 100 ms frames and holds a partial frame until it
# fills. A tail that ends one chunk short of a whole frame leaves that much silence held through the
# pause, so the first live chunk after a resume completes the frame and leaves at once.
SDK_FRAME_BYTES = 3200
TAIL_FRAME_FILL = SDK_FRAME_BYTES - CHUNK_BYTES


@dataclass(frozen=True, slots=True)
class Write:
    """Bytes for the push stream and the UTC wall-clock time (epoch seconds) of their first sample."""

    pcm: bytes
    wall_clock: float
    live: bool  # captured audio; False for the silence of a tail
    monotonic: float | None = None  # the same instant on the monotonic clock, when known (AudioChunk.captured_mono)


@dataclass(frozen=True, slots=True)
class GateStats:
    live_bytes_written: int = 0
    silence_bytes_written: int = 0
    dropped_bytes: int = 0  # every byte captured while closed, also before the first open
    dropped_after_close: int = 0  # the part of dropped_bytes captured after a close(): what pauses withheld
    closes: int = 0
    opens: int = 0


class AudioGate:
    def __init__(self, *, tail_ms: int):
        if tail_ms < 0:
            raise ValueError(f"tail_ms must not be negative (got {tail_ms})")
        # Whole chunks, rounded up: the tail must be at least as long as the silence the service needs.
        self.tail_chunks = -(-tail_ms // CHUNK_MS)
        self.is_open = False
        self._ever_closed = False
        self._live_since_close = False
        self._live_end: float | None = None  # wall clock just after the last live sample written
        self._live_end_mono: float | None = None  # the same on the monotonic clock, if the chunk knew it
        self._tail_due = 0  # silent chunks of a paced tail still to write, one per chunk dropped
        self._tail_wall = 0.0  # wall clock of the next tail chunk
        self._tail_mono: float | None = None
        self._live = self._silence = self._dropped = self._dropped_after_close = 0
        self._closes = self._opens = 0

    @property
    def stats(self) -> GateStats:
        return GateStats(
            live_bytes_written=self._live,
            silence_bytes_written=self._silence,
            dropped_bytes=self._dropped,
            dropped_after_close=self._dropped_after_close,
            closes=self._closes,
            opens=self._opens,
        )

    @property
    def tail_pending(self) -> bool:
        """A paced tail has chunks left to write."""
        return self._tail_due > 0

    def open(self) -> None:
        """Live audio flows from the next chunk processed; nothing dropped before is ever sent.

        A paced tail that has not played out is cancelled: live audio follows instead.
        """
        if not self.is_open:
            self.is_open = True
            self._opens += 1
            self._tail_due = 0

    def close(self, *, tail: bool, stream_bytes: int | None = None, at_once: bool = False) -> list[Write]:
        """Close now; with `tail`, end the phrase in flight with silence if live audio went out since the last close.

        The tail is paced (written by `process` in place of dropped chunks) unless `at_once`: then it,
        and what is left of a paced tail, is returned to be written now. `stream_bytes`, if given, is
        what the push stream holds so far; the tail is then lengthened (by less than one SDK frame) to
        end TAIL_FRAME_FILL bytes into an SDK frame.
        """
        if self.is_open:
            self.is_open = False
            self._closes += 1
        self._ever_closed = True
        if tail and self._live_since_close and self._live_end is not None:  # (set with any live audio)
            chunks = self.tail_chunks
            if stream_bytes is not None and stream_bytes % CHUNK_BYTES == 0:
                while (stream_bytes + chunks * CHUNK_BYTES) % SDK_FRAME_BYTES != TAIL_FRAME_FILL:
                    chunks += 1
            # The tail continues the time of the audio before it, so utterance times stay truthful.
            self._tail_due, self._tail_wall, self._tail_mono = chunks, self._live_end, self._live_end_mono
        self._live_since_close = False
        if not at_once:
            return []
        writes = []
        while self._tail_due:
            writes.append(self._next_tail_chunk())
        return writes

    def process(self, chunk: AudioChunk) -> list[Write]:
        if not self.is_open:
            self._dropped += len(chunk.pcm)
            if self._ever_closed:
                self._dropped_after_close += len(chunk.pcm)
            return [self._next_tail_chunk()] if self._tail_due else []
        self._live += len(chunk.pcm)
        self._live_since_close = True
        duration = chunk.duration
        self._live_end = chunk.captured_at + duration
        mono = chunk.captured_mono
        self._live_end_mono = None if mono is None else mono + duration
        return [Write(chunk.pcm, chunk.captured_at, live=True, monotonic=mono)]

    def _next_tail_chunk(self) -> Write:
        write = Write(_SILENCE, self._tail_wall, live=False, monotonic=self._tail_mono)
        self._tail_due -= 1
        self._tail_wall += _CHUNK_SECONDS
        if self._tail_mono is not None:
            self._tail_mono += _CHUNK_SECONDS
        self._silence += CHUNK_BYTES
        return write


_SILENCE = bytes(CHUNK_BYTES)
_CHUNK_SECONDS = bytes_to_seconds(CHUNK_BYTES)
