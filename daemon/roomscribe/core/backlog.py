"""The outage buffer: the outgoing audio, kept in memory until the speech service has it.

Everything that passes the gate (and the voice stage) is appended here, in order, and written to the
cloud session from here (core/uplink.py decides how much and when). Normally it is written at once and
kept only until the service acknowledges it; while the service does not answer, or no session is up,
it stays and is sent when one answers. It is bounded: past `capacity` bytes the oldest audio goes first
(`overflow` says how much; the caller records the span it held as lost).

Positions are byte offsets in the stream of everything ever appended (the "outgoing stream"): a
session whose stream starts at position P has stream offset 0 at P. Each position has the time of its
capture, kept per segment of writes that continue one another (`CaptureMap`), and whether it is speech
(the stall watch times only answers to speech). The capture time is the monotonic one where the write
knew it (`Write.monotonic`, core/clock.py), with the wall-clock time the source stamped beside it:
audio that waits through a step of the wall clock keeps its true capture instant, and the session's
timeline (core/timeline.py) and a lost span's report (`LostSpan.times`) turn it into a wall-clock time
with the offset in force when they are published.

Memory comes in blocks of anonymous mmap'd memory, each given back to the system as soon as the audio
in it is no longer needed: many small `bytes` objects would stay in Python's arenas and keep the
process's RSS at its peak after an outage. Nothing here ever touches a disk.
"""

from __future__ import annotations

import mmap
from bisect import bisect_right
from dataclasses import dataclass

from roomscribe.core.audio_format import BYTES_PER_SECOND, SAMPLE_WIDTH, bytes_to_seconds

# 8.2 s of audio per block: a normal meeting keeps one or two (the audio not yet acknowledged), an
# outage one more every 8 s, and the memory of each is returned as soon as it is sent and acknowledged.
BLOCK_BYTES = 256 * 1024
# A write that starts within this of where the segment's audio ends continues it (as in core/timeline.py).
MERGE_TOLERANCE_S = 0.002
# The longest piece `read` returns: one write to the push stream.
MAX_PIECE_BYTES = BYTES_PER_SECOND // 2


@dataclass(frozen=True, slots=True)
class Piece:
    """Bytes of the outgoing stream from `pos`, with the capture time of their first sample (the monotonic
    one when it is known, and the wall-clock one the source stamped)."""

    pos: int
    pcm: bytes
    wall_clock: float
    speech: bool
    monotonic: float | None = None


@dataclass(frozen=True, slots=True)
class LostSpan:
    """Audio that could not be sent: positions [start_pos, end_pos) and their capture span."""

    start_pos: int
    end_pos: int
    start: float  # UTC epoch seconds of the first lost sample, as the source stamped it
    end: float  # just after the last lost sample
    start_mono: float | None = None  # the same instants on the monotonic clock, when the writes knew them
    end_mono: float | None = None

    @property
    def seconds(self) -> float:
        """Audio seconds lost; less than end - start when silence between phrases was never sent."""
        return bytes_to_seconds(self.end_pos - self.start_pos)

    def times(self, wall_offset: float | None) -> tuple[float, float]:
        """The span's start and end on the wall clock of now: its monotonic times plus `wall_offset` (wall
        minus monotonic clock, core/clock.py), so a step of the wall clock while the audio waited skews
        neither; the stamped wall-clock times where the monotonic ones are not known."""
        if wall_offset is None or self.start_mono is None or self.end_mono is None:
            return self.start, self.end
        return self.start_mono + wall_offset, self.end_mono + wall_offset

    def joined(self, later: LostSpan) -> LostSpan:
        monotonic = self.start_mono is not None and later.end_mono is not None
        return LostSpan(self.start_pos, later.end_pos, self.start, later.end,
                        self.start_mono if monotonic else None, later.end_mono if monotonic else None)


class AtRisk:
    """Audio dropped from the backlog that only the current session holds: lost unless it acknowledges it."""

    def __init__(self) -> None:
        self._times: CaptureMap | None = None
        self._from = self._to = 0

    def add(self, times: CaptureMap, start: int, end: int) -> None:
        """Positions [start, end), which follow what is held already."""
        if self._times is None:
            self._times, self._from = CaptureMap(), start
        self._times.add_from(times, start, end)
        self._to = end

    def acknowledged(self, pos: int) -> None:
        if self._times is not None and pos > self._from:
            self._from = min(pos, self._to)
            self._times.forget_before(self._from)
            if self._from >= self._to:
                self.clear()

    @property
    def span(self) -> LostSpan | None:
        return self._times.span(self._from, self._to) if self._times is not None else None

    def clear(self) -> None:
        self._times = None


class CaptureMap:
    """Position → capture time (monotonic where known, and the stamped wall clock) and the speech flag, one
    entry per segment of continuous writes.

    A write continues the segment when it follows it in the stream, is of the same kind (speech or not)
    and its capture time continues the segment's: on the monotonic clock when both know it (a step of the
    wall clock does not split a segment, as in core/timeline.py), else on the wall clock.
    """

    def __init__(self) -> None:
        self._pos: list[int] = []
        self._wall: list[float] = []
        self._mono: list[float | None] = []
        self._speech: list[bool] = []
        self._end = 0

    def add(self, pos: int, nbytes: int, wall: float, speech: bool, mono: float | None = None) -> None:
        """Bytes [pos, pos + nbytes) captured from `wall` (and `mono`, if known) on; positions only grow."""
        if not self._pos or pos != self._end or speech != self._speech[-1] or not self._continues(pos, wall, mono):
            self._pos.append(pos)
            self._wall.append(wall)
            self._mono.append(mono)
            self._speech.append(speech)
        self._end = pos + nbytes

    def _continues(self, pos: int, wall: float, mono: float | None) -> bool:
        """Whether a write at `pos` (the end of the last segment) continues it; read off the last segment
        itself, with no search: this runs for every chunk."""
        last = self._mono[-1]
        if (mono is None) != (last is None):
            return False
        elapsed = bytes_to_seconds(pos - self._pos[-1])
        if mono is not None and last is not None:  # both, or neither (above)
            return abs(last + elapsed - mono) <= MERGE_TOLERANCE_S
        return abs(self._wall[-1] + elapsed - wall) <= MERGE_TOLERANCE_S

    def _index(self, pos: int) -> int:
        return max(bisect_right(self._pos, pos) - 1, 0)

    def wall_at(self, pos: int) -> float:
        index = self._index(pos)
        return self._wall[index] + bytes_to_seconds(pos - self._pos[index])

    def mono_at(self, pos: int) -> float | None:
        index = self._index(pos)
        mono = self._mono[index]
        return None if mono is None else mono + bytes_to_seconds(pos - self._pos[index])

    def end_wall(self, pos: int) -> float:
        """The instant just after the sample before `pos` (the end of audio that stops at `pos`)."""
        return self.wall_at(pos - SAMPLE_WIDTH) + bytes_to_seconds(SAMPLE_WIDTH)

    def end_mono(self, pos: int) -> float | None:
        """As `end_wall`, on the monotonic clock (None where it is not known)."""
        mono = self.mono_at(pos - SAMPLE_WIDTH)
        return None if mono is None else mono + bytes_to_seconds(SAMPLE_WIDTH)

    def segment_end(self, pos: int) -> tuple[int, bool]:
        """Where the segment holding `pos` ends, and whether it is speech."""
        index = self._index(pos)
        end = self._pos[index + 1] if index + 1 < len(self._pos) else self._end
        return end, self._speech[index]

    def span(self, start: int, end: int) -> LostSpan:
        return LostSpan(start, end, self.wall_at(start), self.end_wall(end), self.mono_at(start), self.end_mono(end))

    def add_from(self, source: CaptureMap, start: int, end: int) -> None:
        """Take over `source`'s segments for positions [start, end) (which follow what this map holds)."""
        pos = start
        while pos < end:
            stop, speech = source.segment_end(pos)
            stop = min(stop, end)
            self.add(pos, stop - pos, source.wall_at(pos), speech, source.mono_at(pos))
            pos = stop

    def forget_before(self, pos: int) -> None:
        """Drop segments that end at or before `pos` (the one holding `pos` stays)."""
        index = self._index(pos)
        if index:
            del self._pos[:index], self._wall[:index], self._mono[:index], self._speech[:index]

    @property
    def segments(self) -> int:
        return len(self._pos)


class Backlog:
    """Audio positions [start, end) in memory, in blocks; see the module's docstring."""

    def __init__(self, capacity_bytes: int, *, block_bytes: int = BLOCK_BYTES):
        if capacity_bytes < block_bytes or capacity_bytes % SAMPLE_WIDTH or block_bytes % SAMPLE_WIDTH:
            raise ValueError(f"capacity {capacity_bytes} must be whole samples and at least one block ({block_bytes})")
        self.capacity = capacity_bytes
        self._block = block_bytes
        self._blocks: list[mmap.mmap] = []
        self._spare: mmap.mmap | None = None
        self._block0 = 0  # position of the first byte of _blocks[0]
        self.start = 0
        self.end = 0
        self.times = CaptureMap()
        self.peak_bytes = 0  # the most memory the blocks ever held

    def __len__(self) -> int:
        return self.end - self.start

    @property
    def resident_bytes(self) -> int:
        """Memory held in blocks now, the spare included."""
        return (len(self._blocks) + (self._spare is not None)) * self._block

    def overflow(self, nbytes: int) -> int:
        """How many of the oldest bytes must go so that `nbytes` more fit (whole samples)."""
        excess = self.end - self.start + nbytes - self.capacity
        return min(len(self), excess + excess % SAMPLE_WIDTH) if excess > 0 else 0

    def append(self, pcm: bytes, wall: float, speech: bool, mono: float | None = None) -> None:
        """Keep `pcm` (captured from `wall`, and `mono` on the monotonic clock if known); the caller made
        room with `overflow` and `trim` first."""
        if len(pcm) % SAMPLE_WIDTH:
            raise ValueError(f"audio must be whole samples (got {len(pcm)} bytes)")
        if not pcm:
            return
        if self.end - self.start + len(pcm) > self.capacity:
            raise OverflowError("no room: trim the oldest audio first")
        if self.start == self.end:  # empty: start over in the first block, at no cost
            self._release_before(self.end)
        self.times.add(self.end, len(pcm), wall, speech, mono)
        index, offset = divmod(self.end - self._block0, self._block)
        if index < len(self._blocks) and offset + len(pcm) <= self._block:  # the usual case: it fits
            self._blocks[index][offset:offset + len(pcm)] = pcm
            self.end += len(pcm)
            return
        view = memoryview(pcm)
        while view:
            index, offset = divmod(self.end - self._block0, self._block)
            if index == len(self._blocks):
                self._blocks.append(self._new_block())
            room = min(self._block - offset, len(view))
            self._blocks[index][offset:offset + room] = view[:room]
            view = view[room:]
            self.end += room
        self.peak_bytes = max(self.peak_bytes, self.resident_bytes)

    def read(self, pos: int, max_bytes: int) -> list[Piece]:
        """Up to `max_bytes` from `pos` (at least `start`), in pieces that each lie in one segment and block."""
        if pos < self.start:
            raise ValueError(f"position {pos} was already forgotten (the backlog starts at {self.start})")
        pieces = []
        stop = min(self.end, pos + max_bytes - max_bytes % SAMPLE_WIDTH)
        while pos < stop:
            segment_end, speech = self.times.segment_end(pos)
            index, offset = divmod(pos - self._block0, self._block)
            size = min(stop, segment_end) - pos
            size = min(size, self._block - offset, MAX_PIECE_BYTES)
            pieces.append(Piece(pos, self._blocks[index][offset:offset + size], self.times.wall_at(pos), speech,
                                self.times.mono_at(pos)))
            pos += size
        return pieces

    def trim(self, pos: int) -> None:
        """Forget everything before `pos` (no further than `end`)."""
        pos = min(max(pos, self.start), self.end)
        pos -= (pos - self.start) % SAMPLE_WIDTH
        if pos == self.start:
            return
        self.start = pos
        self.times.forget_before(pos)
        self._release_before(pos)

    def clear(self) -> None:
        self.trim(self.end)

    def _release_before(self, pos: int) -> None:
        """Give back the blocks that hold only audio before `pos`."""
        whole = (pos - self._block0) // self._block
        if pos == self.end:
            whole = len(self._blocks)  # empty: every block is free, and the next append starts afresh
        for block in self._blocks[:whole]:
            if self._spare is None:
                self._spare = block  # one spare saves a map/unmap per block in a steady meeting
            else:
                block.close()
        del self._blocks[:whole]
        self._block0 = pos if pos == self.end else self._block0 + whole * self._block

    def _new_block(self) -> mmap.mmap:
        if self._spare is not None:
            block, self._spare = self._spare, None
            return block
        return mmap.mmap(-1, self._block)
