"""The recognizer's parts through their own seams: runs of frame labels → symbols (SymbolTracker on
ToneEdges), symbols → events (PhraseBuilder). The recognizer's tests (test_recognizer.py) hold them together
on real tone speech; these pin down each part's rules with hand-made input."""

import numpy as np

from roomscribe.emulator.edges import FrameGrid, ToneEdges
from roomscribe.emulator.phrases import Hypothesis, Phrase, PhraseBuilder, SpeechStart
from roomscribe.emulator.symbols import MIN_RUN, Symbol, SymbolTracker
from roomscribe.emulator.tonespeech import ALPHABET, MAX_SPEAKERS, REPEAT

HOP, WINDOW = 64, 512
GRID = FrameGrid(HOP, WINDOW)


def votes(speaker: int, frames: int) -> np.ndarray:
    counts = np.zeros(MAX_SPEAKERS + 1, dtype=np.int64)
    counts[speaker + 1] = frames
    return counts


def tracker_over(energy: list[float]) -> SymbolTracker:
    edges = ToneEdges(GRID, sample_rate=16000)
    edges.extend(np.array(energy, dtype=float), first_frame=0)
    return SymbolTracker(edges)


def test_adjacent_symbols_meet_halfway_and_a_gap_ends_the_last():
    tracker = tracker_over([0.0] * 10 + [1.0] * 28 + [0.0] * 20)
    assert tracker.on_run(-1, 0, 9, None) is None
    assert tracker.on_run(33, 10, 23, votes(2, 14)) is None  # open until what follows is clear
    assert tracker.hearing
    first = tracker.on_run(34, 24, 37, votes(2, 14))
    assert first == Symbol(33, 2, first.start, GRID.center((23 + 24) / 2))
    assert first.start < GRID.center(10)  # the onset lies before the first full frame's centre
    assert tracker.on_run(-1, 38, 38 + MIN_RUN - 2, None) is None  # not yet a gap
    second = tracker.on_run(-1, 38 + MIN_RUN - 1, 57, None)
    assert (second.code, second.speaker, second.start) == (34, 2, first.end)
    assert GRID.center(37) < second.end < GRID.center(39)
    assert not tracker.hearing and tracker.first_unresolved(58) == 58


def test_a_short_run_is_not_a_symbol_and_a_dropout_continues_the_open_one():
    tracker = tracker_over([1.0] * 60)
    assert tracker.on_run(40, 0, 13, votes(1, 14)) is None
    assert tracker.on_run(41, 14, 16, votes(1, 3)) is None  # three frames of debris
    assert tracker.on_run(40, 17, 30, votes(1, 14)) is None  # the same symbol again, after a dropout
    assert tracker.first_unresolved(31) == 0
    symbol = tracker.finish(last_frame=30)
    assert symbol.code == 40 and symbol.speaker == 1
    assert tracker.finish(last_frame=31) is None


def builder() -> PhraseBuilder:
    return PhraseBuilder(segmentation_samples=8000, pause_samples=2400, hypothesis_every_samples=8000)


def say(phrases: PhraseBuilder, text: str, speaker: int, start: int, *, symbol: int = 1024) -> int:
    for char in text:
        code = REPEAT if char == "+" else ALPHABET.index(char)
        phrases.on_symbol(Symbol(code, speaker, start, start + symbol))
        start += symbol
    return start


def test_symbols_become_a_start_word_hypotheses_and_a_phrase_after_the_segmentation_silence():
    phrases = builder()
    end = say(phrases, "Hi yo", 0, 1000)
    assert phrases.in_flight_offset == 1000
    phrases.silent_until(end + 7999)
    assert [type(e) for e in phrases.take_events()] == [SpeechStart, Hypothesis]  # "Hi" at the space
    phrases.silent_until(end + 8000)
    events = phrases.take_events()
    assert events == [Hypothesis("Hi yo", 0, 1000, end - 1000), Phrase("Hi yo", 0, 1000, end - 1000)]
    assert phrases.in_flight_offset is None


def test_a_pause_is_a_space_a_new_voice_a_new_phrase_and_a_lone_repeat_nothing():
    phrases = builder()
    end = say(phrases, "a+", 0, 0)  # "aa"
    end = say(phrases, "b", 0, end + 2400)  # heard apart: written apart
    end = say(phrases, "+c", 0, end + 2400)  # a repeat after a pause repeats nothing
    say(phrases, "d", 1, end)  # another voice, no gap
    phrases.finish()
    finals = [e for e in phrases.take_events() if isinstance(e, Phrase)]
    assert [(p.text, p.speaker) for p in finals] == [("aa b c", 0), ("d", 1)]
