"""Runs of equal frame labels → symbols with their speaker and sample span (docs/tonespeech.md, decoder
steps 4-6). One `SymbolTracker` per stream of the recognizer. Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from roomscribe.emulator.edges import Run, ToneEdges

MIN_RUN = 5  # frames (20 ms): shorter runs are transition debris or noise
FLICKER_FRAMES = 15  # a symbol not seen again for this long has ended, whatever came instead


@dataclass(frozen=True)
class Symbol:
    """One character's tones: its code, the speaker heard under it (if clear), its span in samples."""

    code: int
    speaker: int | None
    start: int
    end: int


class SymbolTracker:
    """Decides where symbols begin and end, one run of frame labels at a time.

    A symbol is held open until what follows it is clear (the next symbol established, a gap, or a long
    absence); only then are its edges placed and is it handed on.
    """

    def __init__(self, edges: ToneEdges):
        self._edges = edges
        self._open: Run | None = None  # the symbol being heard; emitted once what follows is clear
        self._candidate: Run | None = None  # a run that may become the next symbol, or a gap
        self._open_start: int | None = None  # where the open symbol began, if known from its predecessor
        self._previous_last = -1  # last frame of the previous symbol

    @property
    def hearing(self) -> bool:
        """A symbol is open: whatever ends, it is not the utterance."""
        return self._open is not None

    def first_unresolved(self, next_frame: int) -> int:
        """The first frame of a symbol not yet handed on (open, or a candidate), else `next_frame`."""
        candidate = self._candidate
        pending = self._open or (candidate if candidate is not None and candidate.code >= 0 else None)
        return pending.first if pending is not None else next_frame

    def on_run(self, code: int, first: int, last: int, votes: np.ndarray | None) -> Symbol | None:
        """Take a run of equal frame labels (a block boundary may split one run into two calls); the symbol
        it ends, if any."""
        open_ = self._open
        if code >= 0 and open_ is not None and code == open_.code and first - open_.last <= MIN_RUN:
            open_.last = last  # the same symbol after a short dropout
            if votes is not None and open_.votes is not None:
                open_.votes += votes
            self._candidate = None
            return None
        candidate = self._candidate
        if candidate is not None and candidate.code == code and candidate.last == first - 1:
            candidate.last = last
            if votes is not None:
                candidate.votes += votes
        else:
            candidate = self._candidate = Run(code, first, last, votes)
        if code < 0:
            if open_ is not None:
                ends = []
                if candidate.length >= MIN_RUN:
                    ends.append(candidate.first + MIN_RUN - 1)  # a real gap
                if last >= open_.last + FLICKER_FRAMES:
                    ends.append(open_.last + FLICKER_FRAMES)
                if ends:
                    return self._close(decided_at=min(ends), successor=None)
            return None
        established = candidate.first + MIN_RUN - 1
        symbol = None
        if candidate.length >= MIN_RUN:
            if open_ is not None:
                flicker_end = open_.last + FLICKER_FRAMES
                if established > flicker_end:
                    symbol = self._close(decided_at=flicker_end, successor=None)
                else:
                    symbol = self._close(decided_at=established, successor=candidate)
            self._open, self._candidate = candidate, None
        elif open_ is not None and last >= open_.last + FLICKER_FRAMES:
            symbol = self._close(decided_at=open_.last + FLICKER_FRAMES, successor=None)
        return symbol

    def finish(self, last_frame: int) -> Symbol | None:
        """End of the stream, its frames analysed up to `last_frame`: the open symbol ends there."""
        if self._open is None:
            return None
        return self._close(decided_at=last_frame, successor=None)

    def _close(self, *, decided_at: int, successor: Run | None) -> Symbol:
        symbol, self._open = self._open, None
        if symbol is None:
            raise RuntimeError("no open symbol to close")
        start = self._open_start
        if start is None:
            start = self._edges.onset(symbol, not_before=self._previous_last + 1)
        if successor is not None:
            end = self._edges.between(symbol, successor)
            self._open_start = end
        else:
            end = max(self._edges.end(symbol, decided_at), start + 1)
            self._open_start = None
        self._previous_last = symbol.last
        return Symbol(symbol.code, _speaker_of(symbol.votes), start, end)


def _speaker_of(votes: np.ndarray | None) -> int | None:
    """The speaker heard in most of a symbol's frames, if clearly so."""
    if votes is None:
        return None
    heard = votes[1:]
    best = int(np.argmax(heard))
    if heard[best] >= 3 and 3 * heard[best] >= 2 * heard.sum():
        return best
    return None
