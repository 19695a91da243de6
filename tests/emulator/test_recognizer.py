"""The streaming recognizer: event semantics, segmentation, chunking independence, settled position."""

import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from roomscribe.emulator.phrases import Hypothesis, Phrase, SpeechStart
from roomscribe.emulator.recognizer import ToneRecognizer
from roomscribe.emulator.tonespeech import SYMBOL_SECONDS, encode

RATE = 16000
SYMBOL = int(SYMBOL_SECONDS * RATE)


def silence(seconds: float) -> np.ndarray:
    return np.zeros(int(round(seconds * RATE)), dtype=np.int16)


def run(pcm: np.ndarray, chunks=None, **options) -> list:
    recognizer = ToneRecognizer(**options)
    data = pcm.tobytes()
    sizes = chunks or [len(data)]
    events, position = [], 0
    for size in sizes:
        events += recognizer.feed(data[position : position + size])
        position += size
    assert position == len(data)
    return events + recognizer.flush()


def phrases(events) -> list[tuple[str, int | None]]:
    return [(e.text, e.speaker) for e in events if isinstance(e, Phrase)]


# Two speakers, a pause inside a phrase, a speaker change with no gap, a little noise everywhere.
_PARTS = [
    silence(0.3),
    encode("Hello there", 0),
    silence(0.3),
    encode("General Kenobi", 0),
    silence(0.7),
    encode("You are a bold one", 1),
    encode("Back to me", 0),
    silence(1.0),
]
CONVERSATION = (np.concatenate(_PARTS) + np.random.default_rng(5).normal(0, 200, sum(p.size for p in _PARTS))).astype(
    np.int16
)


def test_each_utterance_is_a_start_hypotheses_and_a_phrase():
    events = run(CONVERSATION)
    kinds = "".join({SpeechStart: "S", Hypothesis: "h", Phrase: "P"}[type(e)] for e in events)
    assert kinds.count("S") == kinds.count("P") == 3
    for segment in kinds.split("P")[:-1]:
        assert segment[0] == "S" and set(segment[1:]) == {"h"}
    assert phrases(events) == [("Hello there General Kenobi", 0), ("You are a bold one", 1), ("Back to me", 0)]


def test_offsets_span_first_to_last_tone_in_samples():
    events = run(CONVERSATION)
    starts = [e.offset for e in events if isinstance(e, SpeechStart)]
    finals = [e for e in events if isinstance(e, Phrase)]
    first = int(0.3 * RATE)
    first_end = first + 11 * SYMBOL + int(0.3 * RATE) + 14 * SYMBOL
    second = first_end + int(0.7 * RATE)
    third = second + 18 * SYMBOL
    expected = [(first, first_end), (second, third), (third, third + 10 * SYMBOL)]
    tolerance = 0.005 * RATE
    for phrase, start, (begin, end) in zip(finals, starts, expected):
        assert phrase.offset == start
        assert phrase.offset == pytest.approx(begin, abs=tolerance)
        assert phrase.offset + phrase.duration == pytest.approx(end, abs=tolerance)


def test_segmentation_silence_decides_whether_a_pause_ends_the_phrase():
    pcm = np.concatenate([silence(0.2), encode("first part", 2), silence(0.3), encode("second part", 2), silence(1)])
    assert phrases(run(pcm, segmentation_silence_ms=500)) == [("first part second part", 2)]
    assert phrases(run(pcm, segmentation_silence_ms=200)) == [("first part", 2), ("second part", 2)]


def test_no_space_is_added_when_the_pause_follows_one():
    pcm = np.concatenate([encode("ends with space ", 0), silence(0.3), encode("next", 0)])
    assert phrases(run(pcm)) == [("ends with space next", 0)]


def test_a_new_voice_starts_a_new_phrase_even_without_silence():
    pcm = np.concatenate([encode("mine", 3), encode("yours", 4)])
    assert phrases(run(pcm)) == [("mine", 3), ("yours", 4)]


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_any_chunking_gives_identical_events(seed):
    reference = run(CONVERSATION)
    rnd = random.Random(seed)
    sizes, left = [], CONVERSATION.size * 2
    while left:
        size = min(left, rnd.choice([1, 2, 3, 319, 640, 641, rnd.randint(1, 30000)]))
        sizes.append(size)
        left -= size
    assert run(CONVERSATION, sizes) == reference


def test_hypotheses_grow_and_end_with_the_phrase_text():
    events = run(CONVERSATION)
    current: list[str] = []
    for event in events:
        if isinstance(event, SpeechStart):
            current = []
        elif isinstance(event, Hypothesis):
            if current:
                assert event.text.startswith(current[-1]) and len(event.text) > len(current[-1])
            current.append(event.text)
        else:
            assert current[-1] == event.text


def test_a_hypothesis_comes_with_every_word():
    events = run(np.concatenate([encode("one two three", 1), silence(1)]))
    assert [e.text for e in events if isinstance(e, Hypothesis)] == ["one", "one two", "one two three"]
    assert all(e.speaker == 1 and e.offset == events[0].offset for e in events[1:])


def test_a_long_word_still_gets_hypotheses_about_every_half_second():
    word = "Pneumonoultramicroscopicsilicovolcanoconiosis"  # 2.9 s
    texts = [e.text for e in run(encode(word, 0)) if isinstance(e, Hypothesis)]
    assert len(texts) >= 5
    assert texts[-1] == word


def test_flush_finishes_the_utterance_in_flight():
    recognizer = ToneRecognizer()
    events = recognizer.feed(encode("cut short", 5).tobytes())
    assert not any(isinstance(e, Phrase) for e in events)
    finals = [e for e in recognizer.flush() if isinstance(e, Phrase)]
    assert [(p.text, p.speaker) for p in finals] == [("cut short", 5)]
    assert recognizer.flush() == []


def test_audio_after_flush_keeps_counting_samples():
    recognizer = ToneRecognizer()
    recognizer.feed(silence(1).tobytes())
    assert recognizer.flush() == []
    assert recognizer.settled_samples == RATE
    events = recognizer.feed(encode("again", 0).tobytes()) + recognizer.flush()
    assert events[0] == SpeechStart(pytest.approx(RATE, abs=80))
    assert phrases(events) == [("again", 0)]


@pytest.mark.parametrize(
    "pcm",
    [
        silence(10),
        np.random.default_rng(1).normal(0, 2000, 10 * RATE).astype(np.int16),
        np.where(np.arange(10 * RATE) % RATE == 0, 25000, 0).astype(np.int16),  # a click every second
    ],
    ids=["silence", "noise", "clicks"],
)
def test_silence_and_noise_give_no_events_and_settle(pcm):
    recognizer, data = ToneRecognizer(), pcm.tobytes()
    for begin in range(0, len(data), 640):
        assert recognizer.feed(data[begin : begin + 640]) == []
    assert recognizer.settled_samples >= recognizer.samples_fed - 0.35 * RATE  # one analysis block behind at most
    assert recognizer.flush() == []


def test_settled_samples_never_passes_an_event_and_never_goes_back():
    recognizer = ToneRecognizer()
    data = CONVERSATION.tobytes()
    settled = [0]
    for begin in range(0, len(data), 640):
        for event in recognizer.feed(data[begin : begin + 640]):
            assert event.offset >= settled[-1]
        settled.append(recognizer.settled_samples)
        assert settled[-1] >= settled[-2]
        assert settled[-1] <= recognizer.samples_fed
    recognizer.flush()
    assert recognizer.settled_samples == recognizer.samples_fed


def test_settled_samples_moves_past_a_finished_phrase():
    recognizer = ToneRecognizer()
    voiced = encode("done", 0)
    events = recognizer.feed(np.concatenate([voiced, silence(1.0)]).tobytes())
    assert phrases(events) == [("done", 0)]
    assert recognizer.settled_samples >= voiced.size


def test_odd_byte_counts_are_carried_over():
    recognizer = ToneRecognizer()
    data = CONVERSATION[:1001].tobytes()
    recognizer.feed(data[:3])
    assert recognizer.samples_fed == 1
    recognizer.feed(data[3:])
    assert recognizer.samples_fed == 1001


def test_another_sample_rate():
    import soxr

    pcm = soxr.resample(CONVERSATION.astype(np.float32), RATE, 48000)
    events = run(np.round(pcm).astype(np.int16), sample_rate=48000)
    assert phrases(events) == [("Hello there General Kenobi", 0), ("You are a bold one", 1), ("Back to me", 0)]
    assert events[0].offset == pytest.approx(0.3 * 48000, abs=0.005 * 48000)


def test_a_segmentation_silence_must_be_positive():
    with pytest.raises(ValueError, match="segmentation_silence_ms"):
        ToneRecognizer(segmentation_silence_ms=0)
