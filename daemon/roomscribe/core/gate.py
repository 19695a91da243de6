"""The gate between capture and the push stream: while it is closed, no audio leaves the device.

Every captured chunk goes through `process` (on the capture thread, see audio_path.py). Closed, the chunk is dropped at once, never
buffered, so a pause cannot leak audio later either. Closing can add a "tail" of silence, just long
enough for the service to end the phrase in flight, so the last words before a pause or stop are
transcribed. The gate keeps no reference to the audio it drops.
"""

from __future__ import annotations

from dataclasses import dataclass

from roomscribe.audio.format import CHUNK_BYTES, CHUNK_MS, AudioChunk, bytes_to_seconds

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
        self._opened_at: float | None = None
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

    def open(self, at: float | None = None) -> None:
        """Live audio flows from the next chunk processed; nothing dropped before is ever sent.

        `at` is the wall-clock time of the command: a chunk delivered after it but captured wholly
        before it was captured while closed, and is dropped too.
        """
        if not self.is_open:
            self.is_open = True
            self._opens += 1
            self._opened_at = at

    def close(self, *, tail: bool, stream_bytes: int | None = None) -> list[Write]:
        """Close now; return the silence to write at once (if `tail` and live audio went out since the last close).

        `stream_bytes`, if given, is what the push stream holds so far; the tail is then lengthened (by less
        than one SDK frame) to end TAIL_FRAME_FILL bytes into an SDK frame.
        """
        if self.is_open:
            self.is_open = False
            self._closes += 1
        self._ever_closed = True
        if not (tail and self._live_since_close):
            self._live_since_close = False
            return []
        self._live_since_close = False
        silence = bytes(CHUNK_BYTES)
        step = bytes_to_seconds(CHUNK_BYTES)
        chunks = self.tail_chunks
        if stream_bytes is not None and stream_bytes % CHUNK_BYTES == 0:
            while (stream_bytes + chunks * CHUNK_BYTES) % SDK_FRAME_BYTES != TAIL_FRAME_FILL:
                chunks += 1
        # The tail continues the time of the audio before it, so utterance times stay truthful.
        writes = [Write(silence, self._live_end + i * step, live=False) for i in range(chunks)]
        self._silence += CHUNK_BYTES * chunks
        return writes

    def process(self, chunk: AudioChunk) -> list[Write]:
        if self.is_open and self._opened_at is not None and chunk.captured_at + chunk.duration <= self._opened_at:
            self._dropped += len(chunk.pcm)  # delivered late, but captured while closed
            self._dropped_after_close += len(chunk.pcm)
            return []
        if not self.is_open:
            self._dropped += len(chunk.pcm)
            if self._ever_closed:
                self._dropped_after_close += len(chunk.pcm)
            return []
        self._live += len(chunk.pcm)
        self._live_since_close = True
        self._live_end = chunk.captured_at + chunk.duration
        return [Write(chunk.pcm, chunk.captured_at, live=True)]
