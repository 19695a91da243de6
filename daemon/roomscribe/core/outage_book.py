"""Bookkeeping of positions in the outgoing stream (core/backlog.py) for core/uplink.py: where a session's
stream lies in it, which audio an outage delayed, and the lost spans waiting to be reported. Pure."""

from __future__ import annotations

from bisect import bisect_right

from roomscribe.core.backlog import LostSpan

LOST_SETTLE_S = 1.0  # a lost span is reported once it stopped growing for this long
LOST_REPORT_EVERY_S = 60.0  # or once it holds this much audio


class StreamMap:
    """A session's stream offsets → positions in the outgoing stream (one base; a jump where an overflow
    dropped audio the session had not been written yet)."""

    def __init__(self, base: int):
        self._offsets = [0]
        self._positions = [base]
        self.written = 0

    def wrote(self, pos: int, nbytes: int) -> None:
        if pos != self._positions[-1] + self.written - self._offsets[-1]:
            self._offsets.append(self.written)
            self._positions.append(pos)
        self.written += nbytes

    def position(self, offset: int) -> int:
        index = max(bisect_right(self._offsets, offset) - 1, 0)
        return self._positions[index] + offset - self._offsets[index]


class LateSpans:
    """Positions of audio an outage delayed: from the oldest audio not acknowledged when it began to the end
    of what waited when it was caught up."""

    def __init__(self) -> None:
        self._spans: list[list] = []  # [from, to | None]

    def open(self, pos: int) -> None:
        if not self._spans or self._spans[-1][1] is not None:
            self._spans.append([pos, None])

    def close(self, pos: int) -> int:
        """End the open span at `pos`; how many bytes it holds (0 if none was open)."""
        if not self._spans or self._spans[-1][1] is not None:
            return 0
        self._spans[-1][1] = pos
        return pos - self._spans[-1][0]

    def covers(self, start: int, end: int) -> bool:
        return any(low < max(end, start + 1) and (high is None or start < high) for low, high in self._spans)

    def clear(self) -> None:
        self._spans.clear()


class LostSpans:
    """Lost audio waiting to be reported: spans that follow one another are joined, and handed out once
    they stopped growing (or grew long)."""

    def __init__(self) -> None:
        self._spans: list[LostSpan] = []
        self._touched = 0.0

    def add(self, span: LostSpan, now: float) -> None:
        if span.end_pos <= span.start_pos:
            return
        if self._spans and self._spans[-1].end_pos == span.start_pos:
            self._spans[-1] = self._spans[-1].joined(span)
        else:
            self._spans.append(span)
        self._touched = now

    def take(self, now: float, *, everything: bool = False) -> list[LostSpan]:
        if not self._spans:
            return []
        last = self._spans[-1]
        settled = everything or now - self._touched >= LOST_SETTLE_S or last.seconds >= LOST_REPORT_EVERY_S
        taken, self._spans = (self._spans, []) if settled else (self._spans[:-1], [last])
        return taken
