"""Where a tone starts and ends, at half its energy, on the recognizer's frame grid.

`FrameGrid` maps frame indices to sample positions; `ToneEdges` keeps the recent frames' energy of one
stream and places a symbol's onset and end in it (docs/tonespeech.md, decoder step 5). Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from roomscribe.emulator.tonespeech import RAMP_SECONDS

ENERGY_HISTORY = 1024  # frames of energy kept for locating tone edges


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


@dataclass(frozen=True)
class FrameGrid:
    """One stream's frames: `window` samples every `hop`, frame 0 starting `lead` samples before `base`.

    The grid starts a window early over assumed silence, so a tone at the stream's very first sample still
    has a rising edge to measure.
    """

    hop: int
    window: int
    base: int = 0  # sample index of the stream's first sample
    lead: int = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "lead", self.window - self.hop)  # frozen: computed once, read per frame block

    def center(self, frame: float) -> int:
        """The sample at the centre of (fractional) frame `frame`."""
        return self.base + int(round(frame * self.hop - self.lead + self.window / 2))

    def earliest_onset(self, first_frame: int) -> int:
        """A symbol whose frames begin at first_frame cannot be placed earlier than this."""
        return self.base + max(0, first_frame * self.hop - self.lead - self.window // 2 - self.hop)


class ToneEdges:
    """One stream's frame energies (the last ENERGY_HISTORY of them) and the tone edges found in them."""

    def __init__(self, grid: FrameGrid, sample_rate: int):
        self.grid = grid
        # Half-energy points sit half a ramp inside the tone's true edges.
        self._correction = int(round(RAMP_SECONDS * sample_rate / 2))
        self._energy = np.zeros(0)
        self._first = 0  # frame index of self._energy[0]

    def extend(self, energy: np.ndarray, first_frame: int) -> None:
        """The energies of frames first_frame, first_frame + 1, … (consecutive with those before)."""
        self._energy = np.concatenate((self._energy, energy))[-ENERGY_HISTORY:]
        self._first = first_frame + energy.size - self._energy.size

    def onset(self, symbol: Run, not_before: int) -> int:
        """Where the window centre crosses half the symbol's energy: the tone's start, whatever the level.

        The search reaches back a window's worth of frames, but not to frame `not_before` - 1 or earlier
        (the previous symbol's)."""
        half = self._half_level(symbol)
        reach = self.grid.window // self.grid.hop
        first, energies = self._energies(max(symbol.first - reach, not_before), symbol.last)
        above = int(np.argmax(energies >= half))
        if above == 0:
            return self.grid.center(first - 0.5)
        low, high = energies[above - 1], energies[above]
        return self.grid.center(first + above - 1 + (half - low) / (high - low)) - self._correction

    def end(self, symbol: Run, decided_at: int) -> int:
        """Where the energy falls below half the symbol's, in the frames up to `decided_at`."""
        half = self._half_level(symbol)
        first, energies = self._energies(symbol.first, decided_at)
        above = np.flatnonzero(energies >= half)
        last_above = int(above[-1])
        if last_above == energies.size - 1:
            return self.grid.center(first + last_above + 0.5)
        high, low = energies[last_above], energies[last_above + 1]
        return self.grid.center(first + last_above + (high - half) / (high - low)) + self._correction

    def between(self, symbol: Run, successor: Run) -> int:
        """Adjacent symbols: the boundary lies halfway between their frames."""
        return self.grid.center((symbol.last + successor.first) / 2)

    def _energies(self, first: int, last: int) -> tuple[int, np.ndarray]:
        first = max(first, self._first)
        last = min(last, self._first + self._energy.size - 1)
        return first, self._energy[first - self._first : last - self._first + 1]

    def _half_level(self, symbol: Run) -> float:
        _, energies = self._energies(symbol.first, symbol.last)
        return 0.5 * float(energies.max())
