import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from roomscribe.core.audio_format import CHUNK_BYTES, CHUNK_MS, AudioChunk
from roomscribe.core.voice_filter import (
    SpeechDetector,
    VoiceFilter,
    VoiceFilterSettings,
    VoiceFilterStats,
    VoiceStage,
)

CHUNK_S = CHUNK_MS / 1000
T0 = 1_700_000_000.0
S, N = 0.9, 0.1  # a speech and a non-speech probability


def chunk(index: int) -> AudioChunk:
    """A chunk whose bytes say which chunk it is, captured at T0 + index * CHUNK_MS."""
    return AudioChunk(index.to_bytes(4, "little") * (CHUNK_BYTES // 4), T0 + index * CHUNK_S)


def index_of(c: AudioChunk) -> int:
    return int.from_bytes(c.pcm[:4], "little")


def run(f: VoiceFilter, probabilities, start: int = 0) -> list[list[int]]:
    """Feed chunks start, start+1, … with these probabilities; the indices emitted after each."""
    return [[index_of(c) for c in f.process(chunk(start + i), p)] for i, p in enumerate(probabilities)]


def flat(emitted: list[list[int]]) -> list[int]:
    return [i for step in emitted for i in step]


def test_settings_defaults_and_derived_chunk_counts():
    s = VoiceFilterSettings()
    assert (s.threshold, s.pre_roll_ms, s.hangover_ms, s.onset_frames) == (0.5, 400, 300, 3)
    assert (s.pre_roll_chunks, s.hangover_chunks) == (40, 30)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"threshold": 0.0}, "threshold must be between 0 and 1, exclusive (got 0.0)"),
    ({"threshold": 1.5}, "threshold must be between 0 and 1"),
    ({"pre_roll_ms": -10}, "pre_roll_ms must be a whole number of milliseconds from 0 to 5000 (got -10)"),
    ({"pre_roll_ms": 305}, "pre_roll_ms must be a multiple of the 10 ms chunk (got 305)"),
    ({"hangover_ms": 6000}, "hangover_ms must be a whole number of milliseconds from 0 to 5000 (got 6000)"),
    ({"hangover_ms": 0.5}, "hangover_ms must be a whole number"),
    ({"onset_frames": 0}, "onset_frames must be a whole number from 1 to 50 (got 0)"),
    ({"onset_frames": True}, "onset_frames must be a whole number from 1 to 50 (got True)"),
])
def test_settings_refuse_bad_values_naming_field_and_value(kwargs, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        VoiceFilterSettings(**kwargs)


def test_settings_report_every_problem_at_once():
    with pytest.raises(ValueError) as info:
        VoiceFilterSettings(threshold=2, pre_roll_ms=7, onset_frames=0)
    assert str(info.value).count(";") == 2


def test_silence_is_suppressed_and_nothing_is_sent():
    f = VoiceFilter(VoiceFilterSettings(pre_roll_ms=50, onset_frames=2))
    assert flat(run(f, [N] * 100)) == []
    assert not f.sending
    stats = f.stats
    assert stats.sent_seconds == 0 and stats.segments == 0
    # 100 chunks went in: 6 wait in the ring (pre-roll 5 + 1 onset frame), the rest were suppressed.
    assert stats.held_seconds == pytest.approx(6 * CHUNK_S)
    assert stats.suppressed_seconds == pytest.approx(94 * CHUNK_S)


def test_onset_emits_the_pre_roll_oldest_first_then_the_chunk_that_opened():
    f = VoiceFilter(VoiceFilterSettings(pre_roll_ms=50, onset_frames=3, hangover_ms=0))
    emitted = run(f, [N] * 20 + [S, S, S])
    assert emitted[:22] == [[]] * 22  # the first two speech chunks wait: not yet an onset
    # pre-roll 5 chunks (15..19) before the first speech chunk, the two onset chunks, then the third
    assert emitted[22] == [15, 16, 17, 18, 19, 20, 21, 22]
    assert f.sending and f.stats.segments == 1


def test_a_blip_shorter_than_the_onset_does_not_open():
    f = VoiceFilter(VoiceFilterSettings(pre_roll_ms=100, onset_frames=3))
    assert flat(run(f, [N, S, S, N, S, N, S, S, N] * 10)) == []
    assert not f.sending and f.stats.segments == 0


def test_one_onset_frame_opens_at_once():
    f = VoiceFilter(VoiceFilterSettings(pre_roll_ms=20, onset_frames=1, hangover_ms=0))
    assert run(f, [N, N, N, S]) == [[], [], [], [1, 2, 3]]


def test_threshold_is_inclusive():
    f = VoiceFilter(VoiceFilterSettings(threshold=0.6, pre_roll_ms=0, onset_frames=1))
    assert run(f, [0.59, 0.6]) == [[], [1]]


def test_hangover_keeps_sending_after_speech_then_suppresses():
    f = VoiceFilter(VoiceFilterSettings(pre_roll_ms=0, onset_frames=1, hangover_ms=40))
    emitted = run(f, [S, S, N, N, N, N, N, N, N])
    assert emitted == [[0], [1], [2], [3], [4], [5], [], [], []]  # 4 chunks (40 ms) after the last speech
    assert not f.sending
    assert f.stats.sent_seconds == pytest.approx(6 * CHUNK_S)


def test_speech_within_the_hangover_re_arms_it_without_a_new_onset():
    f = VoiceFilter(VoiceFilterSettings(pre_roll_ms=0, onset_frames=3, hangover_ms=30))
    emitted = run(f, [S, S, S, N, N, S, N, N, N, N])
    assert flat(emitted) == [0, 1, 2, 3, 4, 5, 6, 7, 8]
    assert f.stats.segments == 1


def test_after_the_hangover_a_new_onset_sends_the_chunks_since_without_gaps_or_repeats():
    f = VoiceFilter(VoiceFilterSettings(pre_roll_ms=100, onset_frames=2, hangover_ms=20))
    sent = flat(run(f, [S, S, N, N, N, N, N, S, S, N, N, N]))
    # 0,1 speech; 2,3 hangover; 4,5,6 suppressed-but-held; 7,8 speech with 4..6 as pre-roll; 9,10 hangover
    assert sent == [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]
    assert f.stats.segments == 2


def test_every_chunk_keeps_its_own_capture_time_and_bytes():
    f = VoiceFilter(VoiceFilterSettings(pre_roll_ms=30, onset_frames=2, hangover_ms=0))
    out = [c for i, p in enumerate([N] * 50 + [S, S, S, N] + [N] * 50 + [S, S]) for c in f.process(chunk(i), p)]
    assert [index_of(c) for c in out] == [47, 48, 49, 50, 51, 52, 101, 102, 103, 104, 105]
    for c in out:
        assert c == chunk(index_of(c))  # the very same bytes and captured_at: wall-clock times stay true
    # A suppressed span leaves a jump in capture time between two consecutive emitted chunks.
    assert out[6].captured_at - out[5].captured_at == pytest.approx(49 * CHUNK_S)


def test_reset_drops_the_pre_roll_so_audio_before_a_pause_is_never_sent():
    f = VoiceFilter(VoiceFilterSettings(pre_roll_ms=200, onset_frames=3, hangover_ms=0))
    run(f, [N] * 30 + [S, S])  # before the pause: 20 chunks of pre-roll and two speech chunks wait
    assert f.stats.held_seconds > 0
    f.reset()  # the gate closed
    assert f.stats.held_seconds == 0
    # After the resume (chunks 1000…), the onset must carry only audio captured after it.
    sent = flat(run(f, [S, S, S], start=1000))
    assert sent == [1000, 1001, 1002]
    assert f.stats.suppressed_seconds == pytest.approx(32 * CHUNK_S)


def test_reset_while_sending_stops_sending_and_needs_a_new_onset():
    f = VoiceFilter(VoiceFilterSettings(pre_roll_ms=0, onset_frames=2, hangover_ms=500))
    run(f, [S, S, S])
    assert f.sending
    f.reset()
    assert not f.sending
    assert run(f, [N, S, S], start=10) == [[], [], [11, 12]]
    assert f.stats.segments == 2


def test_zero_pre_roll_keeps_nothing():
    f = VoiceFilter(VoiceFilterSettings(pre_roll_ms=0, onset_frames=1))
    run(f, [N] * 10)
    assert f.stats.held_seconds == 0 and f.stats.suppressed_seconds == pytest.approx(10 * CHUNK_S)


def test_memory_is_bounded_by_the_pre_roll():
    s = VoiceFilterSettings(pre_roll_ms=300, onset_frames=3)
    f = VoiceFilter(s)
    for i in range(20_000):  # 200 s of non-speech and sub-onset blips
        f.process(chunk(i), S if i % 7 == 0 else N)
        assert len(f._ring) <= s.pre_roll_chunks + s.onset_frames - 1
    assert f.stats.held_seconds == pytest.approx((s.pre_roll_chunks + s.onset_frames - 1) * CHUNK_S)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(0, 1), max_size=400), st.sampled_from([0, 30, 300]), st.integers(1, 5),
       st.sampled_from([0, 50, 700]), st.lists(st.integers(0, 399), max_size=3))
def test_sent_chunks_are_in_order_never_repeated_and_accounting_adds_up(probs, pre_roll, onset, hangover, resets):
    f = VoiceFilter(VoiceFilterSettings(pre_roll_ms=pre_roll, onset_frames=onset, hangover_ms=hangover))
    sent, emissions = [], []  # emissions: (step it was emitted at, chunk index)
    for i, p in enumerate(probs):
        if i in resets:
            f.reset()
        for c in f.process(chunk(i), p):
            sent.append(index_of(c))
            emissions.append((i, index_of(c)))
    assert sent == sorted(set(sent))
    stats = f.stats
    total = stats.sent_seconds + stats.suppressed_seconds + stats.held_seconds
    assert total == pytest.approx(len(probs) * CHUNK_S)
    assert stats.sent_seconds == pytest.approx(len(sent) * CHUNK_S)
    # Nothing captured before a reset is sent after it.
    for step, index in emissions:
        assert not any(index < r <= step for r in resets)


class ScriptedDetector:
    """A SpeechDetector that reads the probability from a script, and records resets."""

    def __init__(self, script: dict[int, float]):
        self.script = script
        self.seen: list[int] = []
        self.resets = 0

    def speech_probability(self, pcm: bytes) -> float:
        self.seen.append(int.from_bytes(pcm[:4], "little"))
        return self.script.get(self.seen[-1], N)

    def reset(self) -> None:
        self.resets += 1


def test_the_stage_asks_the_detector_for_every_chunk_and_resets_both():
    detector: SpeechDetector = ScriptedDetector({i: S for i in range(10, 14)})
    stage = VoiceStage(detector, VoiceFilterSettings(pre_roll_ms=20, onset_frames=2, hangover_ms=10))
    sent = [index_of(c) for i in range(20) for c in stage.process(chunk(i))]
    assert detector.seen == list(range(20))
    assert sent == [8, 9, 10, 11, 12, 13, 14]
    assert stage.stats == VoiceFilterStats(sent_seconds=pytest.approx(7 * CHUNK_S),
                                           suppressed_seconds=pytest.approx(10 * CHUNK_S),
                                           held_seconds=pytest.approx(3 * CHUNK_S), segments=1, sending=False)
    stage.reset()
    assert detector.resets == 1 and stage.stats.held_seconds == 0
