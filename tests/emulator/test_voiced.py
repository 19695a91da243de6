"""Voiced tone speech: the emulator decodes it exactly, and the real VAD stage hears it as speech.

The detector is the real pymicro-vad in the real `VoiceStage` with its default settings (what users get);
the speech is espeak-ng (a Debian package the test setup installs). docs/tonespeech.md, "Voiced tone speech".
"""

import time

import numpy as np
import pytest
from roomscribe.core.audio_format import CHUNK_MS
from roomscribe.audio.vad import make_speech_detector
from roomscribe.core.voice_filter import VoiceFilterSettings, VoiceStage
from roomscribe.emulator import voiced
from roomscribe.emulator.phrases import Phrase
from roomscribe.emulator.recognizer import ToneRecognizer
from roomscribe.emulator.script import parse_script, read_wav, synthesize
from roomscribe.emulator.decode import decode

from tests.support.emulator_sdk import SdkTranscriber, assert_transcribed_as_planned
from tests.support.emulator_sdk import emulator as _emulator_fixture  # noqa: F401  (the `emulator` fixture)
from tests.support.vad_score import run_stage

MEETING = """\
[silence 1]
Anna: Good morning, can everyone hear me?
Ben: Yes.
Chloe: Loud and clear.
[silence 2.5]
Anna: Let's start with the numbers from last week; revenue was 4.2 million.
David: That's up 7% from March, isn't it?
Anna: Right. Costs were flat.
[silence 0.5]
Emma: OK.
Farid: I have a question about the forecast for Q3.
[silence 6]
Grace: Sorry, I was on mute. Could you repeat that?
Farid: The forecast for Q3: do we still expect 15% growth?
Hiro: No.
Hiro: We revised it down to 11%, mostly because of shipping delays in Asia.
[silence 3]
Ines: What about hiring? We still have three open positions & no budget.
Jon: I'd say we hire one engineer now, and two after the summer.
Ben: Agreed!
Chloe: Fine by me. Who writes the minutes?
Emma: I will.
[silence 1.2]
Anna: Great, thanks everyone. See you next Monday at 9:30.
"""

CHUNK_S = CHUNK_MS / 1000
MAX_CLIP_MS = 100
MIN_KEPT = 0.995
STAGE = VoiceFilterSettings()
PRE_ROLL_S = (STAGE.pre_roll_ms + (STAGE.onset_frames - 1) * CHUNK_MS) / 1000  # what the ring sends at onset
TRAILING_S = 1.2  # pymicro-vad's own tail (0.4-0.7 s, docs/vad.md) + the 300 ms hangover, with a margin


TAIL_S = 3.0


@pytest.fixture(scope="module")
def meeting():
    return voiced.voiced_meeting(MEETING, tail=TAIL_S)


@pytest.fixture(scope="module")
def sent(meeting):
    pcm, _ = meeting
    return run_stage(pcm.astype("<i2").tobytes(), VoiceStage(make_speech_detector())).sent


def spoken(plan):
    return [(u.text, u.speaker_index) for u in plan]


def whole(sent, utterance) -> bool:
    """The stage sent at least MIN_KEPT of the utterance's chunks and clipped neither end by more than 100 ms."""
    inside = sent[int(np.floor(utterance.start / CHUNK_S)):int(np.ceil(utterance.end / CHUNK_S))]
    kept = np.flatnonzero(inside)
    return (
        inside.mean() >= MIN_KEPT
        and kept[0] * CHUNK_MS <= MAX_CLIP_MS
        and (inside.size - 1 - kept[-1]) * CHUNK_MS <= MAX_CLIP_MS
    )


def phrases(events):
    return [(e.text, e.speaker) for e in events if isinstance(e, Phrase)]


def test_the_plan_and_length_are_those_of_plain_tone_speech(meeting):
    pcm, plan = meeting
    plain, plain_plan = synthesize(parse_script(MEETING), tail=TAIL_S)
    assert plan == plain_plan
    assert pcm.dtype == np.int16 and pcm.shape == plain.shape
    assert len({u.speaker_index for u in plan}) == 10
    assert np.max(np.abs(pcm)) == pytest.approx(0.5 * 32767, abs=1)  # +6 dB of gain still fits


def test_it_decodes_to_the_exact_text_and_speaker_with_edges_near_the_plan(meeting):
    pcm, plan = meeting
    decoded = decode(pcm)
    assert [(p.text, p.speaker) for p in decoded] == spoken(plan)
    for phrase, utterance in zip(decoded, plan):
        assert abs(phrase.offset / 16000 - utterance.start) < 0.032
        assert abs((phrase.offset + phrase.duration) / 16000 - utterance.end) < 0.032


@pytest.mark.parametrize("chunk_bytes", [640, 1003])
def test_the_streaming_recognizer_decodes_it_in_chunks(meeting, chunk_bytes):
    pcm, plan = meeting
    data = pcm.astype("<i2").tobytes()
    recognizer = ToneRecognizer()
    events = []
    for i in range(0, len(data), chunk_bytes):
        events += recognizer.feed(data[i:i + chunk_bytes])
    assert phrases(events + recognizer.flush()) == spoken(plan)


@pytest.mark.parametrize("gain_db", [-20, -10, 6])
def test_it_decodes_after_gain_and_16_bit_rounding(meeting, gain_db):
    pcm, plan = meeting
    scaled = np.clip(np.round(pcm * 10 ** (gain_db / 20)), -32768, 32767).astype(np.int16)
    assert [(p.text, p.speaker) for p in decode(scaled)] == spoken(plan)


@pytest.mark.parametrize("snr_db", [20, 15])
def test_it_decodes_under_white_noise(meeting, snr_db):
    pcm, plan = meeting
    level = np.sqrt(np.mean(pcm[pcm != 0].astype(np.float64) ** 2))
    noise = np.random.default_rng(7).standard_normal(pcm.size) * level * 10 ** (-snr_db / 20)
    noisy = np.clip(np.round(pcm + noise), -32768, 32767).astype(np.int16)
    assert [(p.text, p.speaker) for p in decode(noisy)] == spoken(plan)


def test_the_vad_stage_sends_every_utterance_whole(meeting, sent):
    _, plan = meeting
    assert [u.text for u in plan if not whole(sent, u)] == []


def test_the_vad_stage_suppresses_the_scripted_silences(meeting, sent):
    """Between utterances only the hangover after one and the pre-roll (plus the voice's lead) before the next."""
    _, plan = meeting
    lead = voiced.VoicedSettings().lead_s
    edges = [0.0] + [t for u in plan for t in (u.start, u.end)] + [sent.size * CHUNK_S]
    checked = 0
    for k in range(0, len(edges), 2):
        silence_from, silence_to = edges[k], edges[k + 1]
        allowed_from = silence_from + (TRAILING_S if k else 0.0)
        allowed_to = silence_to - (PRE_ROLL_S + lead if k + 2 < len(edges) else 0.0)
        if allowed_to - allowed_from < 0.5:
            continue
        checked += 1
        span = sent[int(np.ceil(allowed_from / CHUNK_S)):int(np.floor(allowed_to / CHUNK_S))]
        assert not span.any(), f"sent {span.sum() * CHUNK_MS} ms of the silence {silence_from:.2f}-{silence_to:.2f} s"
    assert checked >= 5  # the lead-in, the 2.5, 6 and 3 s silences, the tail


def transcribe(emu, pcm: bytes) -> SdkTranscriber:
    sdk = SdkTranscriber(emu.host_url, "test-key")
    sdk.start()
    # Paced at about 20x real time: all at once, a minute of audio can exceed the SDK's buffer of unacknowledged
    # audio (ServiceTimeout "client buffer exceeded maximum size") on a busy machine.
    second = 32000
    for begin in range(0, len(pcm), second):
        sdk.push(pcm[begin:begin + second])
        time.sleep(0.05)
    sdk.close_stream()
    sdk.wait_for(lambda s: s.events("session_stopped"), 60, "session_stopped")
    assert sdk.transcribed(), f"nothing transcribed; canceled: {sdk.canceled()}"
    return sdk


def test_the_emulator_transcribes_it_through_the_real_sdk(emulator, meeting):
    pcm, plan = meeting
    with transcribe(emulator, pcm.astype("<i2").tobytes()) as sdk:
        assert_transcribed_as_planned(sdk.transcribed(), plan, tolerance_s=0.04)


def test_what_the_vad_stage_sends_is_transcribed_exactly(emulator, meeting, sent):
    """The daemon's path with the VAD on: only the chunks the stage sent reach the service, back to back."""
    pcm, plan = meeting
    data = pcm.astype("<i2").tobytes()
    step = len(data) // sent.size
    kept = b"".join(data[i * step:(i + 1) * step] for i in np.flatnonzero(sent))
    assert len(data) - len(kept) > 8 * 32000  # the long silences (2.5, 6 and 3 s, lead-in, tail) were left out
    with transcribe(emulator, kept) as sdk:
        assert [(e.text, e.speaker) for e in sdk.transcribed()] == [
            (u.text, f"Guest-{u.speaker_index + 1}") for u in plan
        ]


def test_plain_tone_speech_is_not_heard_as_speech_which_is_why_it_is_voiced():
    # Measured: 1 of 19 lines whole; the rest heard 0.2-1.8 s late, four short ones not at all.
    plain, plan = synthesize(parse_script(MEETING))
    sent = run_stage(plain.astype("<i2").tobytes(), VoiceStage(make_speech_detector())).sent
    assert sum(whole(sent, u) for u in plan) < len(plan) / 4


def test_rendering_is_deterministic():
    script = "A: Same text, same audio.\nB: Every time."
    first, _ = voiced.voiced_meeting(script)
    again, _ = voiced.voiced_meeting(script)
    assert np.array_equal(first, again)


def test_a_missing_espeak_ng_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv("ROOMSCRIBE_VOICED_CACHE", str(tmp_path))  # nothing cached: it must render
    monkeypatch.setattr(voiced.shutil, "which", lambda name: None)
    with pytest.raises(voiced.EspeakMissing, match="apt-get install espeak-ng"):
        voiced.voiced_meeting("A: hello")


def test_the_committed_demo_meeting_is_the_demo_script_voiced():
    """The packaged WAV cannot go stale: it must decode to exactly what demo.MEETING says, in its voices."""
    from roomscribe.demo.meeting_audio import DEMO_WAV, demo_meeting
    from roomscribe.demo.script import MEETING as DEMO

    pcm, plan = demo_meeting()
    samples, rate = read_wav(DEMO_WAV)
    assert rate == 16000 and np.array_equal(samples, pcm)
    assert [(line.text, line.speaker) for line in parse_script(DEMO) if hasattr(line, "text")] == [
        (u.text, u.speaker) for u in plan
    ]
    assert [(p.text, p.speaker) for p in decode(pcm)] == spoken(plan)
    assert DEMO_WAV.stat().st_size < 1_000_000
    sent = run_stage(pcm.astype("<i2").tobytes(), VoiceStage(make_speech_detector())).sent
    assert [u.text for u in plan if not whole(sent, u)] == []
