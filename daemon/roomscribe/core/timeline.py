"""Stream offset → capture wall clock, for one push stream (one cloud session).

The Speech SDK reports result offsets in 100 ns ticks that count exactly the bytes written to the push
stream, so an offset names a byte of what was written, and each write knows the wall-clock time of
its first sample. A pause leaves a gap in wall time but none in the stream, which is why offsets alone
cannot give times.

Writes that continue one another in time (the usual case: chunks back to back) merge into one
segment, so hours of audio keep a handful of segments: one per resume, plus one per clock jump of the
capture source.

Writes that know their monotonic time (`Write.monotonic`, from the source's chunk) are kept on the
monotonic clock and turned into wall-clock times with the offset the caller passes (core/clock.py): a
result published after the wall clock stepped gets the times of the clock after the step, also for
audio captured before it. Writes without one keep their wall-clock times as they are.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right

from roomscribe.core.audio_format import SAMPLE_WIDTH, TICKS_PER_SECOND, bytes_to_ticks
from roomscribe.core.gate import Write

# A write that starts within this of where the segment's audio ends continues the segment. It bounds
# the error the merge may introduce; capture sources stamp chunks from the sample count, so back-to-back
# chunks match to float precision.
MERGE_TOLERANCE_S = 0.002


class Timeline:
    def __init__(self) -> None:
        # Parallel lists, one entry per segment: its first stream offset (ticks), its time there, and
        # whether that time is on the monotonic clock (else it is a wall-clock time).
        self._start_ticks: list[int] = []
        self._start_times: list[float] = []
        self._on_monotonic: list[bool] = []
        self._written = 0

    def append(self, write: Write) -> None:
        """Record a write, in the order the bytes went to the push stream."""
        if len(write.pcm) % SAMPLE_WIDTH:
            raise ValueError(f"a write must hold whole samples (got {len(write.pcm)} bytes)")
        if not write.pcm:
            return
        offset_ticks = bytes_to_ticks(self._written)
        monotonic = write.monotonic is not None
        at = write.monotonic if write.monotonic is not None else write.wall_clock
        continues = bool(self._start_ticks) and self._on_monotonic[-1] is monotonic and (
            abs(self._time_in_segment(len(self._start_ticks) - 1, offset_ticks) - at) <= MERGE_TOLERANCE_S
        )
        if not continues:
            self._start_ticks.append(offset_ticks)
            self._start_times.append(at)
            self._on_monotonic.append(monotonic)
        self._written += len(write.pcm)

    @property
    def written_bytes(self) -> int:
        return self._written

    @property
    def segment_count(self) -> int:
        return len(self._start_ticks)

    def wall_at_ticks(self, ticks: int, wall_offset: float | None = None) -> float:
        """UTC epoch seconds of the audio at this stream offset.

        An offset where a segment begins maps to that segment's first sample (the audio after a pause);
        past the end of what was written, time runs on from the last write. `wall_offset` (wall minus
        monotonic clock) turns monotonic times into wall-clock times; it is needed once such a write is here.
        """
        index = max(bisect_right(self._start_ticks, ticks) - 1, 0)
        return self._wall_in_segment(index, ticks, wall_offset)

    def wall_span(self, offset_ticks: int, duration_ticks: int, wall_offset: float | None = None) -> tuple[float, float]:
        """Wall-clock start and end of a result.

        The end is the instant after the result's last sample, so an end that falls exactly on a segment
        boundary belongs to the segment before it: a phrase ending at a pause ends when the audio before
        the pause did, not when the audio after the resume begins.
        """
        start = self.wall_at_ticks(offset_ticks, wall_offset)
        end_ticks = offset_ticks + max(duration_ticks, 0)
        index = max(bisect_left(self._start_ticks, end_ticks) - 1, 0)
        return start, max(start, self._wall_in_segment(index, end_ticks, wall_offset))

    def _time_in_segment(self, index: int, ticks: int) -> float:
        if not self._start_ticks:
            raise LookupError("nothing was written to this stream yet")
        return self._start_times[index] + (ticks - self._start_ticks[index]) / TICKS_PER_SECOND

    def _wall_in_segment(self, index: int, ticks: int, wall_offset: float | None) -> float:
        at = self._time_in_segment(index, ticks)
        if not self._on_monotonic[index]:
            return at
        if wall_offset is None:
            raise ValueError("this stream holds audio timed on the monotonic clock: give the wall clock's offset")
        return at + wall_offset
