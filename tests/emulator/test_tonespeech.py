"""The tone-speech codec: exact round trips, and survival of what a real sound path does to audio."""

import re
import string

import numpy as np
import pytest
import soxr
from hypothesis import given, settings
from hypothesis import strategies as st

from roomscribe.emulator import tonespeech
from roomscribe.emulator.decode import decode
from roomscribe.emulator.tonespeech import ALPHABET, MAX_SPEAKERS, SYMBOL_SECONDS, encode
from tests.support.pulse import PulseServer, pulse_available

RATE = 16000
SYMBOL = int(SYMBOL_SECONDS * RATE)

SENTENCES = [
    "Good morning everyone",
    "Let's start with the budget: 1,250,000 EUR?",
    'She said "no" - twice!',
    "Mississippi",
    "aaaa bbb  cc d",
    "!!!???...",
    "1000000",
    "x",
    " leading and trailing ",
    "Q3 results; see slide 7 (draft) & notes @ 9:30 #ops 100% [final] {v2} <ok>",
    "a/b a\\b a|b a~b a^b a=b a+b a*b a_b `c`",
    ALPHABET,
]


def _meeting(sentences, gap=0.8, lead=0.4):
    """Sentences spoken in turn by every voice, and what a perfect recognizer hears: (text, speaker, start, end)."""
    silence = np.zeros(int(gap * RATE), dtype=np.int16)
    pieces, truth, position = [np.zeros(int(lead * RATE), dtype=np.int16)], [], int(lead * RATE)
    for i, text in enumerate(sentences):
        speaker = i % MAX_SPEAKERS
        voiced = encode(text, speaker)
        pieces += [voiced, silence]
        truth.append((text, speaker, position, position + voiced.size))
        position += voiced.size + silence.size
    return np.concatenate(pieces), truth


MEETING, TRUTH = _meeting(SENTENCES + [f"Speaker {i} here." for i in range(MAX_SPEAKERS)])
SIGNAL_RMS = float(np.sqrt(np.mean(np.concatenate([encode(t, 0) for t in SENTENCES]).astype(float) ** 2)))


def _as_int16(samples) -> np.ndarray:
    return np.clip(np.round(samples), -32768, 32767).astype(np.int16)


def _assert_heard(pcm, *, shift=0, sample_rate=RATE, tolerance=0.005):
    phrases = decode(pcm, sample_rate=sample_rate)
    assert [(p.text, p.speaker) for p in phrases] == [(text, speaker) for text, speaker, _, _ in TRUTH]
    scale = sample_rate / RATE
    for phrase, (_, _, start, end) in zip(phrases, TRUTH):
        assert phrase.offset / scale == pytest.approx(start + shift, abs=tolerance * RATE)
        assert (phrase.offset + phrase.duration) / scale == pytest.approx(end + shift, abs=tolerance * RATE)


def test_alphabet_is_printable_ascii_with_the_usual_punctuation():
    assert set(ALPHABET) == set(string.printable) - set("\t\n\r\x0b\x0c")
    assert set(string.ascii_letters + string.digits + " .,?!'-:;\"") <= set(ALPHABET)
    assert MAX_SPEAKERS >= 8


def test_encode_gives_64_ms_per_character_within_the_level():
    pcm = encode("Hello", 2, level=0.5)
    assert pcm.dtype == np.int16 and pcm.ndim == 1
    assert pcm.size == 5 * SYMBOL
    assert np.abs(pcm).max() <= 0.5 * 32767
    assert np.abs(pcm).max() >= 0.4 * 32767  # the level is used, not just respected
    assert encode("", 0).size == 0


def test_encode_at_another_rate_keeps_durations():
    assert encode("Hello", 0, sample_rate=44100).size == round(5 * SYMBOL_SECONDS * 44100)


@pytest.mark.parametrize(
    "text, named", [("café", "'é'"), ("line\nbreak", "'\\n'"), ("tab\there", "'\\t'"), ("ok 👍", "'👍'")]
)
def test_encode_names_each_unsupported_character(text, named):
    with pytest.raises(ValueError, match=re.escape(named)):
        encode(text, 0)


@pytest.mark.parametrize("speaker", [-1, MAX_SPEAKERS])
def test_encode_rejects_a_speaker_out_of_range(speaker):
    with pytest.raises(ValueError, match="speaker"):
        encode("hi", speaker)


@pytest.mark.parametrize("level", [0, -0.1, 1.5])
def test_encode_rejects_a_level_out_of_range(level):
    with pytest.raises(ValueError, match="level"):
        encode("hi", 0, level=level)


def test_tones_stay_in_the_telephone_band():
    pcm = encode(ALPHABET, 5).astype(float)
    power = np.abs(np.fft.rfft(pcm)) ** 2
    hz = np.fft.rfftfreq(pcm.size, 1 / RATE)
    in_band = power[(hz >= 300) & (hz <= 3400)].sum()
    assert in_band / power.sum() > 0.99


def test_a_repeated_character_is_sent_as_a_different_symbol():
    codes = tonespeech.symbol_codes("aaab")
    assert codes[0] != codes[1] != codes[2] != codes[3]


def test_every_sentence_and_voice_round_trips_exactly_with_its_timing():
    _assert_heard(MEETING)


@settings(max_examples=40, deadline=None)
@given(text=st.text(alphabet=ALPHABET, min_size=1, max_size=40), speaker=st.integers(0, MAX_SPEAKERS - 1))
def test_any_text_round_trips_exactly(text, speaker):
    pcm = np.concatenate([np.zeros(1000, np.int16), encode(text, speaker), np.zeros(1000, np.int16)])
    assert [(p.text, p.speaker) for p in decode(pcm)] == [(text, speaker)]


@pytest.mark.parametrize("gain_db", [-20, -12, -6, 3, 6])
def test_level_changes_do_not_matter(gain_db):
    _assert_heard(_as_int16(MEETING * 10 ** (gain_db / 20)))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_white_noise_at_20_db_snr(seed):
    noise = np.random.default_rng(seed).normal(0, SIGNAL_RMS / 10, MEETING.size)
    _assert_heard(_as_int16(MEETING + noise))


def test_quiet_and_noisy_together():
    noise = np.random.default_rng(7).normal(0, SIGNAL_RMS / 100, MEETING.size)
    _assert_heard(_as_int16(MEETING * 0.1 + noise))


def test_resampling_through_44_1_khz_and_back():
    up = soxr.resample(MEETING.astype(np.float32), RATE, 44100)
    _assert_heard(_as_int16(up), sample_rate=44100)
    _assert_heard(_as_int16(soxr.resample(up, 44100, RATE)))


def test_encoding_and_decoding_at_44_1_khz():
    pcm = encode("Hello again", 3, sample_rate=44100)
    assert [(p.text, p.speaker) for p in decode(pcm, sample_rate=44100)] == [("Hello again", 3)]


@pytest.mark.parametrize("clock", [0.99, 1.01])
def test_a_one_percent_clock_error_between_player_and_capture(clock):
    """Captured at a rate 1 % off: every tone moves by 1 % (a whole FFT bin at 3 kHz), every symbol by 0.6 ms."""
    skewed = soxr.resample(MEETING.astype(np.float32), RATE, round(RATE * clock))
    heard = decode(_as_int16(skewed))
    assert [(p.text, p.speaker) for p in heard] == [(text, speaker) for text, speaker, _, _ in TRUTH]


@pytest.mark.parametrize("shift", [1, 2, 5, 13, 29, 37])
def test_small_time_shifts_move_offsets_only(shift):
    _assert_heard(np.concatenate([np.zeros(shift, np.int16), MEETING]), shift=shift)


def test_bytes_and_arrays_decode_alike():
    assert decode(MEETING.tobytes()) == decode(MEETING)


def test_decode_wants_int16_samples():
    with pytest.raises(ValueError, match="int16"):
        decode(MEETING.astype(np.float32))


def test_silence_noise_and_clicks_are_not_speech():
    silence = np.zeros(5 * RATE, np.int16)
    noise = _as_int16(np.random.default_rng(3).normal(0, 3000, 5 * RATE))
    hiss = _as_int16(np.random.default_rng(4).normal(0, 20, 5 * RATE))
    click = silence.copy()
    click[RATE : RATE + 2] = [30000, -30000]
    hum = _as_int16(8000 * np.sin(2 * np.pi * 50 * np.arange(5 * RATE) / RATE))
    for pcm in (silence, noise, hiss, click, hum):
        assert decode(pcm) == []


def test_a_lone_tone_is_not_speech():
    for hz in list(tonespeech.PILOT_HZ[:2]) + list(tonespeech.ROW_HZ[:2]) + [1000.0]:
        tone = _as_int16(10000 * np.sin(2 * np.pi * hz * np.arange(2 * RATE) / RATE))
        assert decode(tone) == []


@pytest.mark.slow
@pytest.mark.skipif(not pulse_available(), reason="PulseAudio tools are not installed")
def test_a_real_sound_server_and_portaudio_capture(tmp_path, monkeypatch):
    """Played into a PulseAudio null sink and captured by PortAudio from its monitor, as the daemon's tests do."""
    from roomscribe.emulator.script import parse_script, synthesize, write_wav

    pcm, plan = synthesize(parse_script("A: Good morning, all!\nB: It's 9:30 - agenda?\nA: Mississippi 1000"), tail=0.5)
    write_wav(tmp_path / "meeting.wav", pcm)
    server = PulseServer().start()
    try:
        server.apply_env(monkeypatch)
        import pyaudio

        audio, player = pyaudio.PyAudio(), None
        try:
            stream = audio.open(format=pyaudio.paInt16, channels=1, rate=RATE, input=True, frames_per_buffer=320)
            player = server.play(tmp_path / "meeting.wav")
            chunks = []
            while player.poll() is None and len(chunks) < 50 * 30:
                chunks.append(stream.read(320, exception_on_overflow=False))
            chunks += [stream.read(320, exception_on_overflow=False) for _ in range(25)]
            stream.close()
        finally:
            if player is not None:
                player.kill()
                player.wait(timeout=10)
            audio.terminate()
    finally:
        server.close()
    heard = decode(b"".join(chunks))
    assert [(p.text, p.speaker) for p in heard] == [(u.text, u.speaker_index) for u in plan]
    gaps = np.diff([p.offset for p in heard]) / RATE
    assert gaps == pytest.approx(np.diff([u.start for u in plan]), abs=SYMBOL_SECONDS)
