"""The real detector (pymicro-vad) in the real stage, on real synthesized speech in room noise.

The audio comes from espeak-ng (tests/support/room_audio.py) with speech boundaries taken from the clean
speech. Default settings throughout: what users get.
"""

import numpy as np
import pytest

from roomscribe.core.audio_format import CHUNK_BYTES
from roomscribe.audio.vad import MicroVadDetector, make_speech_detector
from roomscribe.core.voice_filter import SpeechDetector, VoiceStage
from tests.support import room_audio as ra
from tests.support.vad_score import run_stage, score

MAX_CLIP_MS = 100


def stage() -> VoiceStage:
    return VoiceStage(make_speech_detector())


def test_the_adapter_is_a_speech_detector_for_10_ms_chunks():
    detector: SpeechDetector = MicroVadDetector()
    p = detector.speech_probability(bytes(CHUNK_BYTES))
    assert 0.0 <= p <= 1.0
    with pytest.raises(ValueError, match="320-byte chunks"):
        detector.speech_probability(bytes(CHUNK_BYTES * 2))


def test_reset_forgets_what_the_detector_heard():
    audio = ra.render([ra.Line("The budget for next quarter looks fine.", "en-us+f3", gap_before_s=0.5)], noise="pink")
    chunks = [audio.chunk(i) for i in range(audio.chunks)]
    detector = MicroVadDetector()
    first = [detector.speech_probability(c) for c in chunks]
    detector.reset()
    again = [detector.speech_probability(c) for c in chunks]
    assert again == pytest.approx(first)
    assert max(first) > 0.9  # it did hear speech


@pytest.mark.slow
@pytest.mark.parametrize("noise", ["room", "pink", "fan"])
def test_speech_in_room_noise_is_kept_whole(noise):
    """Every voice and rate at SNRs from 5 to 30 dB: ≥ 99.5 % of speech chunks sent, no end clipped > 100 ms."""
    lines = ra.varied_lines(30, seed={"room": 11, "pink": 12, "fan": 13}[noise], gap_range=(1.5, 4.0))
    audio = ra.render(lines, noise=noise, seed=3)
    result = score(audio, run_stage(audio.pcm, stage()))
    assert {u.voice for u in audio.utterances} == set(ra.VOICES)
    assert result.kept >= 0.995, f"kept {result.kept:.4f} of speech chunks"
    clipped = [(u.text[:30], u.voice, round(u.snr_db), a, b) for u, a, b in
               zip(audio.utterances, result.clip_start_ms, result.clip_end_ms) if max(a, b) > MAX_CLIP_MS]
    assert result.clip_end_ms.max() <= MAX_CLIP_MS, f"ends clipped by more than {MAX_CLIP_MS} ms: {clipped}"
    # Known limit (docs/vad.md): pymicro-vad can hear a breathy first word late ("First," in en+f5: 460 ms).
    # At most one start in 30 may be clipped beyond the target, and by no more than 500 ms.
    assert len(clipped) <= 1 and result.clip_start_ms.max() <= 500, f"starts clipped (start, end ms): {clipped}"
    # Each phrase is followed by enough audio for the service to end it (its segmentation silence: 500 ms).
    assert result.trailing_ms.min() >= 500


@pytest.mark.slow
def test_the_lowest_snr_is_kept_too():
    lines = [ra.Line(text, voice, rate, snr_db=5.0, gap_before_s=2.0)
             for text, voice, rate in [(ra.SENTENCES[6], "en-us+m3", 180), (ra.SENTENCES[9], "en-gb+f2", 130),
                                       (ra.SENTENCES[14], "en+f5", 155), (ra.SENTENCES[2], "en-us+m7", 155)]]
    audio = ra.render(lines, noise="room", seed=4)
    result = score(audio, run_stage(audio.pcm, stage()))
    assert result.kept >= 0.995
    assert result.max_clip_ms <= MAX_CLIP_MS


@pytest.mark.slow
@pytest.mark.parametrize(("kind", "below_speech_db"), [
    ("pink", 5), ("pink", 15), ("pink", 30), ("fan", 5), ("fan", 15), ("fan", 30), ("hvac", 5), ("hvac", 15),
    ("hvac", 30), ("room", 15), ("room", 30),  # "room" holds babble 10 dB below its level: voices next door
])
def test_an_empty_room_sends_next_to_nothing(kind, below_speech_db):
    pcm = ra.noise_only(60, kind=kind, dbfs=ra.SPEECH_LEVEL_DBFS - below_speech_db, seed=below_speech_db)
    s = stage()
    run = run_stage(pcm, s)
    assert run.sent.sum() * 0.01 <= 0.5, f"{run.sent.sum() * 10} ms of {kind} noise sent"
    assert s.stats.segments <= 1


@pytest.mark.parametrize("freq", [100, 200, 440, 1000, 2000, 3000])
def test_a_steady_tone_is_not_speech(freq):
    """A tone at speech level is rejected: at most one short burst early on (440 Hz: 1 s, docs/vad.md), then nothing."""
    floor = ra.noise_only(2, kind="pink", dbfs=ra.SPEECH_LEVEL_DBFS - 30, seed=1)
    pcm = floor + ra.tone(10, freq)
    s = stage()
    run = run_stage(pcm, s)
    onset = len(floor) // CHUNK_BYTES
    assert not run.sent[:onset].any()
    assert run.sent.sum() * 10 <= 1000, f"{run.sent.sum() * 10} ms of a {freq} Hz tone sent"
    assert not run.sent[onset + 500:].any(), f"a {freq} Hz tone still sent 5 s after it started"
    assert s.stats.segments <= 1


@pytest.mark.slow
def test_a_leading_filler_loses_at_most_its_start_and_the_words_after_it_are_kept():
    """Known limit of pymicro-vad (docs/vad.md): a hummed "Hmm" is heard late, up to 0.4 s after the pre-roll."""
    lines = [ra.Line(ra.FILLER_SENTENCE, voice, rate, snr_db=snr, gap_before_s=2.0)
             for voice, rate, snr in [("en-us+f3", 180, 29), ("en-gb+f2", 155, 28), ("en-us+m3", 130, 12),
                                      ("en+f5", 130, 22)]]
    audio = ra.render(lines, noise="room", seed=5)
    run = run_stage(audio.pcm, stage())
    result = score(audio, run)
    assert result.clip_start_ms.max() <= 400
    assert result.clip_end_ms.max() <= MAX_CLIP_MS
    assert result.kept >= 0.95
    for u in audio.utterances:  # everything from 0.4 s into the utterance on was sent
        assert run.sent[u.start_chunk + 40:u.end_chunk][audio.speech[u.start_chunk + 40:u.end_chunk]].all()


@pytest.mark.slow
def test_voices_in_the_room_are_speech():
    """Babble of eight other voices, even quiet, is speech to the detector: it is sent (documented in docs/vad.md)."""
    pcm = ra.noise_only(20, kind="babble", dbfs=ra.SPEECH_LEVEL_DBFS - 15, seed=2)
    run = run_stage(pcm, stage())
    assert run.sent.mean() > 0.5


def test_the_first_speech_leaves_the_stage_with_its_pre_roll():
    """Onset: the chunks before the detector was sure go out with the chunk that opened the stage, in order."""
    audio = ra.render([ra.Line("Shall we start?", "en-us+f4", snr_db=20, gap_before_s=2.0)], noise="pink")
    run = run_stage(audio.pcm, stage())
    u = audio.utterances[0]
    first = int(np.flatnonzero(run.sent)[0])
    assert first <= u.start_chunk  # nothing of the first syllable is lost
    opened_at = run.emitted_at[first]
    assert opened_at > u.start_chunk  # the detector needed some speech before it was sure…
    assert (run.emitted_at[first:opened_at + 1] == opened_at).all()  # …and all of it left at once


@pytest.mark.slow
def test_the_detector_rests_in_the_silences_and_the_speech_is_kept_as_well():
    """QuietSkip (core/quiet_skip.py) in the daemon's detector: speech at 5-30 dB SNR with silences of 3-20 s
    is kept as the bare detector keeps it, and the detector hears well under half of the chunks."""
    lines = ra.varied_lines(16, seed=21, gap_range=(3.0, 20.0))
    audio = ra.render(lines, noise="room", seed=6)
    resting = stage()
    result = score(audio, run_stage(audio.pcm, resting))
    bare = score(audio, run_stage(audio.pcm, VoiceStage(MicroVadDetector())))
    assert result.kept >= min(0.995, bare.kept)
    assert result.clip_end_ms.max() <= MAX_CLIP_MS
    assert result.clip_start_ms.max() <= max(MAX_CLIP_MS, bare.clip_start_ms.max())
    assert resting.detector.stats.detector_share < 0.5, resting.detector.stats
    assert result.trailing_ms.min() >= 500
