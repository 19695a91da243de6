"""Where a tone starts and ends, at half its energy: a part of ToneRecognizer (recognizer.py)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Run:
    """Consecutive frames with one label (code -1: no symbol)."""

    code: int
    first: int
    last: int
    votes: np.ndarray | None = None  # frames per speaker; index 0 counts "no speaker heard"

    @property
    def length(self) -> int:
        return self.last - self.first + 1


class ToneEdges:
    """ToneRecognizer's edge finding; uses its frame grid and energy history."""

    def _frame_center(self, frame: float) -> int:
        return self._base + int(round(frame * self._hop - self._lead + self._window / 2))

    def _earliest_onset(self, first_frame: int) -> int:
        """A symbol whose frames begin at first_frame cannot be placed earlier than this."""
        return self._base + max(0, first_frame * self._hop - self._lead - self._window // 2 - self._hop)

    def _energies(self, first: int, last: int) -> tuple[int, np.ndarray]:
        first = max(first, self._energy_first)
        last = min(last, self._energy_first + self._energy.size - 1)
        return first, self._energy[first - self._energy_first : last - self._energy_first + 1]

    def _half_level(self, symbol: Run) -> float:
        _, energies = self._energies(symbol.first, symbol.last)
        return 0.5 * float(energies.max())

    def _onset(self, symbol: Run) -> int:
        """Where the window centre crosses half the symbol's energy: the tone's start, whatever the level."""
        half = self._half_level(symbol)
        reach = self._window // self._hop
        first, energies = self._energies(max(symbol.first - reach, self._previous_last + 1), symbol.last)
        above = int(np.argmax(energies >= half))
        if above == 0:
            return self._frame_center(first - 0.5)
        low, high = energies[above - 1], energies[above]
        return self._frame_center(first + above - 1 + (half - low) / (high - low)) - self._edge_correction

    def _offset_end(self, symbol: Run, decided_at: int) -> int:
        half = self._half_level(symbol)
        first, energies = self._energies(symbol.first, decided_at)
        above = np.flatnonzero(energies >= half)
        last_above = int(above[-1])
        if last_above == energies.size - 1:
            return self._frame_center(first + last_above + 0.5)
        high, low = energies[last_above], energies[last_above + 1]
        return self._frame_center(first + last_above + (high - half) / (high - low)) + self._edge_correction
