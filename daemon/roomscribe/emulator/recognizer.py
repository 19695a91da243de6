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

from roomscribe.emulator.edges import Run, ToneEdges
from roomscribe.emulator.phrases import Event, PhraseBuilder, Utterance
from roomscribe.emulator.tonespeech import MAX_SPEAKERS, RAMP_SECONDS, FrameClassifier

BLOCK_FRAMES = 64
MIN_RUN = 5  # frames (20 ms): shorter runs are transition debris or noise
FLICKER_FRAMES = 15  # a symbol not seen again for this long has ended, whatever came instead
PAUSE_SECONDS = 0.15  # a gap this long inside a phrase separates words
HYPOTHESIS_SECONDS = 0.5  # longest stretch of new audio without a hypothesis
_ENERGY_HISTORY = 1024  # frames of energy kept for locating tone edges


class ToneRecognizer(ToneEdges, PhraseBuilder):
    def __init__(self, *, segmentation_silence_ms: int = 500, sample_rate: int = 16000):
        if segmentation_silence_ms <= 0:
            raise ValueError(f"segmentation_silence_ms must be positive, got {segmentation_silence_ms}")
        self._classifier = FrameClassifier(sample_rate)
        self._hop = self._classifier.hop
        self._window = self._classifier.window_length
        # The grid starts a window early over assumed silence, so a tone at the very first sample
        # still has a rising edge to measure.
        self._lead = self._window - self._hop
        self._segmentation = int(round(segmentation_silence_ms * sample_rate / 1000))
        self._pause = int(round(PAUSE_SECONDS * sample_rate))
        self._hypothesis_every = int(round(HYPOTHESIS_SECONDS * sample_rate))
        # Half-energy points sit half a ramp inside the tone's true edges.
        self._edge_correction = int(round(RAMP_SECONDS * sample_rate / 2))
        self._samples_fed = 0
        self._odd_byte = b""
        self._settled = 0
        self._events: list[Event] = []
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
        span = (BLOCK_FRAMES - 1) * self._hop + self._window
        start = 0
        while self._buffer.size - start >= span:
            self._analyse(self._buffer[start : start + span], BLOCK_FRAMES)
            start += BLOCK_FRAMES * self._hop
        self._buffer = self._buffer[start:]
        self._settle()
        return self._take_events()

    def flush(self) -> list[Event]:
        """End of audio: finish the utterance in flight. Audio fed afterwards starts a new stream."""
        stream_end = self._samples_fed - self._base + self._lead  # in grid coordinates
        remaining = -(-(stream_end - self._next_frame * self._hop) // self._hop)  # frames starting before the end
        if remaining > 0:
            span = (remaining - 1) * self._hop + self._window
            padded = np.zeros(span, dtype=np.float32)
            padded[: self._buffer.size] = self._buffer[:span]
            self._analyse(padded, remaining)
        if self._open is not None:
            self._close_open(decided_at=self._next_frame - 1, successor=None)
        if self._utterance is not None:
            self._finish_utterance()
        self._odd_byte = b""
        self._settled = self._samples_fed
        self._start_stream(base=self._samples_fed)
        return self._take_events()

    # -- frames -------------------------------------------------------------------------------------

    def _start_stream(self, base: int) -> None:
        self._base = base  # sample index of the stream's first sample; frame 0 starts self._lead before it
        self._buffer = np.zeros(self._lead, dtype=np.float32)  # starts at frame self._next_frame
        self._next_frame = 0
        self._energy = np.zeros(0)
        self._energy_first = 0  # frame index of self._energy[0]
        self._open: Run | None = None  # the symbol being heard; emitted once what follows is clear
        self._candidate: Run | None = None  # a run that may become the next symbol, or a gap
        self._open_start: int | None = None  # where the open symbol began, if known from its predecessor
        self._previous_last = -1  # last frame of the previous symbol
        self._utterance: Utterance | None = None

    def _analyse(self, samples: np.ndarray, count: int) -> None:
        frames = sliding_window_view(samples, self._window)[:: self._hop][:count]
        codes, speakers, energy = self._classifier.classify(frames)
        first = self._next_frame
        self._energy = np.concatenate((self._energy, energy))[-_ENERGY_HISTORY:]
        self._energy_first = first + count - self._energy.size
        self._next_frame += count
        changes = np.flatnonzero(codes[1:] != codes[:-1]) + 1
        bounds = np.concatenate(([0], changes, [count]))
        for begin, end in zip(bounds[:-1], bounds[1:]):
            code = int(codes[begin])
            votes = np.bincount(speakers[begin:end] + 1, minlength=MAX_SPEAKERS + 1) if code >= 0 else None
            self._on_run(code, first + int(begin), first + int(end) - 1, votes)
        self._check_phrase_end()

    def _on_run(self, code: int, first: int, last: int, votes: np.ndarray | None) -> None:
        """Feed a run of equal frame labels (a block boundary may split one run into two calls)."""
        open_ = self._open
        if code >= 0 and open_ is not None and code == open_.code and first - open_.last <= MIN_RUN:
            open_.last = last  # the same symbol after a short dropout
            open_.votes += votes
            self._candidate = None
            return
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
                    self._close_open(decided_at=min(ends), successor=None)
            return
        established = candidate.first + MIN_RUN - 1
        if candidate.length >= MIN_RUN:
            if open_ is not None:
                flicker_end = open_.last + FLICKER_FRAMES
                if established > flicker_end:
                    self._close_open(decided_at=flicker_end, successor=None)
                else:
                    self._close_open(decided_at=established, successor=candidate)
            self._open, self._candidate = candidate, None
        elif open_ is not None and last >= open_.last + FLICKER_FRAMES:
            self._close_open(decided_at=open_.last + FLICKER_FRAMES, successor=None)

    def _close_open(self, *, decided_at: int, successor: Run | None) -> None:
        symbol, self._open = self._open, None
        start = self._open_start
        if start is None:
            start = self._onset(symbol)
        if successor is not None:
            # Adjacent symbols: the boundary lies halfway between their frames.
            end = self._frame_center((symbol.last + successor.first) / 2)
            self._open_start = end
        else:
            end = max(self._offset_end(symbol, decided_at), start + 1)
            self._open_start = None
        self._previous_last = symbol.last
        self._on_symbol(symbol.code, _speaker_of(symbol.votes), start, end)

    def _check_phrase_end(self) -> None:
        utterance = self._utterance
        if utterance is None or self._open is not None:
            return
        candidate = self._candidate
        first_unresolved = candidate.first if candidate is not None and candidate.code >= 0 else self._next_frame
        if self._earliest_onset(first_unresolved) >= utterance.end + self._segmentation:
            self._finish_utterance()

    def _settle(self) -> None:
        if self._utterance is not None:
            position = self._utterance.offset
        else:
            candidate = self._candidate
            pending = self._open or (candidate if candidate is not None and candidate.code >= 0 else None)
            first_unresolved = pending.first if pending is not None else self._next_frame
            position = min(self._earliest_onset(first_unresolved), self._samples_fed)
        self._settled = max(self._settled, position)

    def _take_events(self) -> list[Event]:
        events, self._events = self._events, []
        return events


def _speaker_of(votes: np.ndarray) -> int | None:
    """The speaker heard in most of a symbol's frames, if clearly so."""
    heard = votes[1:]
    best = int(np.argmax(heard))
    if heard[best] >= 3 and 3 * heard[best] >= 2 * heard.sum():
        return best
    return None
