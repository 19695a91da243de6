"""Streaming recognizer of tone speech: PCM in, SpeechStart / Hypothesis / Phrase out. Pure: no I/O, no threads.

Audio is cut into 32 ms frames every 4 ms on a grid fixed to the first sample fed, and frames are
analysed in fixed blocks of 64, so any chunking of the same audio gives the same events. Each frame is
labelled with a symbol (or none) and a speaker (or none); a run of at least five equal labels is a
symbol. Symbols become text; a silence of segmentation_silence_ms ends the phrase. docs/tonespeech.md
describes the decoder.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from roomscribe.emulator.edges import FrameGrid, ToneEdges
from roomscribe.emulator.phrases import Event, Phrase, PhraseBuilder
from roomscribe.emulator.symbols import SymbolTracker
from roomscribe.emulator.tonespeech import MAX_SPEAKERS, FrameClassifier

BLOCK_FRAMES = 64
PAUSE_SECONDS = 0.15  # a gap this long inside a phrase separates words
HYPOTHESIS_SECONDS = 0.5  # longest stretch of new audio without a hypothesis


class ToneRecognizer:
    """PCM in, events out. It cuts the audio into frames and has them classified (`FrameClassifier`);
    per stream, a `SymbolTracker` turns runs of frame labels into symbols, placed by `ToneEdges`; a
    `PhraseBuilder` turns symbols into events. It owns the frame grid and what is settled."""

    _buffer: np.ndarray  # samples not yet cut into frames (set per stream by _start_stream)

    def __init__(self, *, segmentation_silence_ms: int = 500, sample_rate: int = 16000):
        if segmentation_silence_ms <= 0:
            raise ValueError(f"segmentation_silence_ms must be positive, got {segmentation_silence_ms}")
        self._sample_rate = sample_rate
        self._classifier = FrameClassifier(sample_rate)
        self._phrases = PhraseBuilder(
            segmentation_samples=int(round(segmentation_silence_ms * sample_rate / 1000)),
            pause_samples=int(round(PAUSE_SECONDS * sample_rate)),
            hypothesis_every_samples=int(round(HYPOTHESIS_SECONDS * sample_rate)),
        )
        self._samples_fed = 0
        self._odd_byte = b""
        self._settled = 0
        self._start_stream(base=0)

    @property
    def samples_fed(self) -> int:
        return self._samples_fed

    @property
    def settled_samples(self) -> int:
        """No event still to come refers to audio before this sample (acknowledge up to here)."""
        return self._settled

    def feed(self, pcm: bytes) -> list[Event]:
        data = self._odd_byte + bytes(pcm)
        cut = len(data) - len(data) % 2
        self._odd_byte = data[cut:]
        samples = np.frombuffer(data, dtype="<i2", count=cut // 2).astype(np.float32) / 32768.0
        self._samples_fed += samples.size
        self._buffer = np.concatenate((self._buffer, samples))
        hop, window = self._grid.hop, self._grid.window
        span = (BLOCK_FRAMES - 1) * hop + window
        start = 0
        while self._buffer.size - start >= span:
            self._analyse(self._buffer[start : start + span], BLOCK_FRAMES)
            start += BLOCK_FRAMES * hop
        self._buffer = self._buffer[start:]
        if not start:
            return []  # no frame analysed: no event, and nothing settled that was not before
        events = self._phrases.take_events()
        self._settle(events)
        return events

    def flush(self) -> list[Event]:
        """End of audio: finish the utterance in flight. Audio fed afterwards starts a new stream."""
        grid = self._grid
        stream_end = self._samples_fed - grid.base + grid.lead  # in grid coordinates
        remaining = -(-(stream_end - self._next_frame * grid.hop) // grid.hop)  # frames starting before the end
        if remaining > 0:
            span = (remaining - 1) * grid.hop + grid.window
            padded = np.zeros(span, dtype=np.float32)
            padded[: self._buffer.size] = self._buffer[:span]
            self._analyse(padded, remaining)
        symbol = self._symbols.finish(last_frame=self._next_frame - 1)
        if symbol is not None:
            self._phrases.on_symbol(symbol)
        self._phrases.finish()
        self._odd_byte = b""
        self._settled = self._samples_fed
        self._start_stream(base=self._samples_fed)
        return self._phrases.take_events()

    # -- frames -------------------------------------------------------------------------------------

    def _start_stream(self, base: int) -> None:
        self._grid = FrameGrid(self._classifier.hop, self._classifier.window_length, base)
        self._buffer = np.zeros(self._grid.lead, dtype=np.float32)  # starts at frame self._next_frame
        self._next_frame = 0
        self._edges = ToneEdges(self._grid, self._sample_rate)
        self._symbols = SymbolTracker(self._edges)

    def _analyse(self, samples: np.ndarray, count: int) -> None:
        frames = sliding_window_view(samples, self._grid.window)[:: self._grid.hop][:count]
        codes, speakers, energy = self._classifier.classify(frames)
        first = self._next_frame
        self._edges.extend(energy, first)
        self._next_frame += count
        changes = np.flatnonzero(codes[1:] != codes[:-1]) + 1
        bounds = np.concatenate(([0], changes, [count]))
        for begin, end in zip(bounds[:-1], bounds[1:]):
            code = int(codes[begin])
            votes = np.bincount(speakers[begin:end] + 1, minlength=MAX_SPEAKERS + 1) if code >= 0 else None
            symbol = self._symbols.on_run(code, first + int(begin), first + int(end) - 1, votes)
            if symbol is not None:
                self._phrases.on_symbol(symbol)
        if not self._symbols.hearing:
            # No symbol can begin before the first unresolved frame: a long enough silence ends the phrase.
            self._phrases.silent_until(self._grid.earliest_onset(self._symbols.first_unresolved(self._next_frame)))

    def _settle(self, events: list[Event]) -> None:
        """Past every phrase just emitted; in an utterance, at its start; else at the earliest onset still
        possible (the audio's end at most)."""
        spoken = max((e.offset + e.duration for e in events if isinstance(e, Phrase)), default=0)
        position = self._phrases.in_flight_offset
        if position is None:
            unresolved = self._symbols.first_unresolved(self._next_frame)
            position = min(self._grid.earliest_onset(unresolved), self._samples_fed)
        self._settled = max(self._settled, spoken, position)
