"""Tone speech: text and speaker carried as tones, so the emulator can *hear* what was said and by whom.

Every character is one 64 ms symbol made of two tones (one of ten "row" tones and one of ten "column"
tones); a continuous pilot tone, one frequency per speaker, runs under the whole utterance. All tones lie
on a 31.25 Hz grid between 375 and 3094 Hz, so they survive any telephone-band sound path, and each one
falls exactly on a bin of a 32 ms FFT at 16 kHz. A character equal to the one before it is sent as a
REPEAT symbol, so two neighbouring symbols always differ and a run of equal frames is one symbol.
docs/tonespeech.md has the whole design and its limits.
"""

from __future__ import annotations

import numpy as np

ALPHABET = "".join(chr(code) for code in range(0x20, 0x7F))  # printable ASCII, space first
REPEAT = len(ALPHABET)  # symbol code for "the same character again"
SYMBOL_COUNT = REPEAT + 1
MAX_SPEAKERS = 10

SYMBOL_SECONDS = 0.064
RAMP_SECONDS = 0.003  # raised-cosine edges keep symbol changes from splattering into other tones
FRAME_SECONDS = 0.032  # analysis window: 512 samples at 16 kHz, 31.25 Hz per FFT bin
HOP_SECONDS = 0.004

_GRID_HZ = 31.25
# Thirty tones three grid steps apart, interleaved pilot / row / column so each group spans the band
# and members of one group sit nine steps (281 Hz) apart.
_TONES_HZ = np.array([(12 + 3 * j) * _GRID_HZ for j in range(30)])
PILOT_HZ = _TONES_HZ[0::3]
ROW_HZ = _TONES_HZ[1::3]
COLUMN_HZ = _TONES_HZ[2::3]

# Decision thresholds on a tone's share of the frame energy (a lone pure tone scores 1.0; each tone of
# a clean symbol about 1/3; one bin of white noise about 3/512).
_MIN_SHARE = 0.08
_MIN_DATA_SHARE = 0.3  # row + column together
_DOMINANCE = 4.0  # best tone of a group over the runner-up, in power
_FLOOR_DBFS = -60.0  # quieter frames count as silence whatever they contain

_CODE_OF = {char: code for code, char in enumerate(ALPHABET)}


def symbol_codes(text: str) -> list[int]:
    """The symbol codes that carry `text`; a repeated character becomes REPEAT."""
    unsupported = sorted({char for char in text if char not in _CODE_OF})
    if unsupported:
        shown = ", ".join(repr(char) for char in unsupported)
        raise ValueError(f"tone speech cannot say {shown}: it supports printable ASCII only")
    codes: list[int] = []
    for i, char in enumerate(text):
        repeated = i > 0 and text[i - 1] == char and codes[-1] != REPEAT
        codes.append(REPEAT if repeated else _CODE_OF[char])
    return codes


def symbol_samples(count: int, sample_rate: int) -> int:
    """Length in samples of `count` symbols (symbol edges are rounded per symbol, so they never drift)."""
    return int(round(count * SYMBOL_SECONDS * sample_rate))


def encode(text: str, speaker: int, *, sample_rate: int = 16000, level: float = 0.3) -> np.ndarray:
    """Mono int16 PCM saying `text` in the voice of `speaker`; its peak never exceeds `level` of full scale."""
    if not 0 <= speaker < MAX_SPEAKERS:
        raise ValueError(f"speaker must be 0..{MAX_SPEAKERS - 1}, got {speaker}")
    if not 0 < level <= 1:
        raise ValueError(f"level must be in (0, 1], got {level}")
    _check_rate(sample_rate)
    codes = np.array(symbol_codes(text), dtype=np.int64)
    if codes.size == 0:
        return np.zeros(0, dtype=np.int16)
    edges = np.array([symbol_samples(i, sample_rate) for i in range(codes.size + 1)])
    lengths = np.diff(edges)
    symbol_of = np.repeat(np.arange(codes.size), lengths)
    local = np.arange(edges[-1]) - edges[symbol_of]  # sample index inside its symbol
    t_local = local / sample_rate
    data = np.sin(2 * np.pi * ROW_HZ[codes // 10][symbol_of] * t_local)
    data += np.sin(2 * np.pi * COLUMN_HZ[codes % 10][symbol_of] * t_local)
    ramp = max(1, int(round(RAMP_SECONDS * sample_rate)))
    data *= _edge_envelope(local, lengths[symbol_of], ramp)
    n = np.arange(edges[-1])
    pilot = np.sin(2 * np.pi * PILOT_HZ[speaker] * n / sample_rate)
    pilot *= _edge_envelope(n, np.full(n.size, n.size), ramp)
    pcm = (data + pilot) * (level / 3) * 32767
    return np.round(pcm).astype(np.int16)


def _edge_envelope(position: np.ndarray, length: np.ndarray, ramp: int) -> np.ndarray:
    distance = np.minimum(position, length - 1 - position) + 0.5
    x = np.clip(distance / ramp, 0.0, 1.0)
    return 0.5 - 0.5 * np.cos(np.pi * x)


def _check_rate(sample_rate: int) -> None:
    # The highest tone must stay well below Nyquist.
    if not 8000 <= sample_rate <= 192000:
        raise ValueError(f"sample_rate must be 8000..192000 Hz, got {sample_rate}")


class FrameClassifier:
    """Labels analysis frames: which symbol (or none) and which speaker (or none) each one holds."""

    def __init__(self, sample_rate: int):
        _check_rate(sample_rate)
        self.sample_rate = sample_rate
        self.window_length = int(round(FRAME_SECONDS * sample_rate))
        self.hop = int(round(HOP_SECONDS * sample_rate))
        n = self.window_length
        self._window = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n) / n)).astype(np.float32)
        sum_w = float(self._window.sum(dtype=np.float64))
        sum_w2 = float((self._window.astype(np.float64) ** 2).sum())
        # A tone is measured as the power of its bin and both neighbours: that holds the Hann main
        # lobe even when a clock error moves the tone up to a bin away. A lone on-bin tone puts
        # 1.5 times its centre-bin power there; the scale makes it score 1.0.
        self._share_scale = 2 * sum_w2 / (1.5 * sum_w * sum_w)
        self._floor = 10 ** (_FLOOR_DBFS / 10) * sum_w2
        groups = np.concatenate([PILOT_HZ, ROW_HZ, COLUMN_HZ])
        self._bins = np.rint(groups * n / sample_rate).astype(np.int64)

    def classify(self, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """frames: (count, window_length) float32 in [-1, 1].

        Returns per frame: symbol code or -1, speaker or -1, windowed energy.
        """
        weighted = frames * self._window
        energy = np.einsum("ij,ij->i", weighted, weighted, dtype=np.float64)
        power = _power(np.fft.rfft(weighted, axis=1))
        lobes = power[:, self._bins - 1] + power[:, self._bins] + power[:, self._bins + 1]
        shares = lobes * (self._share_scale / np.maximum(energy, 1e-30))[:, None]
        pilots, rows, columns = np.split(shares, [MAX_SPEAKERS, MAX_SPEAKERS + 10], axis=1)
        speaker, speaker_ok, _ = _dominant(pilots)
        row, row_ok, row_share = _dominant(rows)
        column, column_ok, column_share = _dominant(columns)
        code = row * 10 + column
        is_symbol = (
            (energy >= self._floor)
            & row_ok
            & column_ok
            & (row_share + column_share >= _MIN_DATA_SHARE)
            & (code < SYMBOL_COUNT)
        )
        codes = np.where(is_symbol, code, -1)
        speakers = np.where(is_symbol & speaker_ok, speaker, -1)
        return codes, speakers, energy


def _power(values: np.ndarray) -> np.ndarray:
    return values.real**2 + values.imag**2


def _dominant(shares: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per frame: the group's strongest tone, whether it clearly stands out, and its share."""
    ranked = np.sort(shares, axis=1)
    best, runner_up = ranked[:, -1], ranked[:, -2]
    ok = (best >= _MIN_SHARE) & (best >= _DOMINANCE * runner_up)
    return np.argmax(shares, axis=1), ok, best
