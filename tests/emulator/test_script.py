"""Meeting scripts: parsing, synthesis timing checked by decoding, WAV files."""

import subprocess
import sys
import wave

import numpy as np
import pytest

from roomscribe.emulator.script import (
    PlannedUtterance,
    ScriptGap,
    ScriptLine,
    parse_script,
    read_wav,
    synthesize,
    write_wav,
)
from roomscribe.emulator.decode import decode
from roomscribe.emulator.tonespeech import MAX_SPEAKERS, SYMBOL_SECONDS

SCRIPT = """\
# Weekly sync
Guest-1: Good morning everyone

Guest-2:Morning! Shall we start?
[silence 2.5]
Dr. Jones: Note: it's 9:30; agenda item #1.
   # an indented comment
Guest-1: OK
[silence 0.2s]
[SILENCE 0.3]
Guest-2: Fine.
"""


def test_parse_script_reads_lines_gaps_and_skips_comments():
    assert parse_script(SCRIPT) == [
        ScriptLine("Guest-1", "Good morning everyone"),
        ScriptLine("Guest-2", "Morning! Shall we start?"),
        ScriptGap(2.5),
        ScriptLine("Dr. Jones", "Note: it's 9:30; agenda item #1."),
        ScriptLine("Guest-1", "OK"),
        ScriptGap(0.2),
        ScriptGap(0.3),
        ScriptLine("Guest-2", "Fine."),
    ]
    assert parse_script("") == [] and parse_script("# nothing\n\n") == []


@pytest.mark.parametrize(
    "line, message",
    [
        ("just words", "expected 'SPEAKER: text'"),
        (": orphan", "speaker name"),
        ("Guest-3:   ", "says nothing"),
        ("A" * 33 + ": too long a name", "longer than 32"),
        ("Guest-3: café", "'é'"),
        ("[silence]", r"\[silence SECONDS\]"),
        ("[silence soon]", "number of seconds"),
        ("[silence -1]", "0 to 3600"),
        ("[pause 2]", r"\[silence SECONDS\]"),
    ],
)
def test_a_bad_line_is_named_by_number(line, message):
    with pytest.raises(ValueError, match=rf"^line 3: .*{message}"):
        parse_script(f"# header\nGuest-1: fine\n{line}\nGuest-1: also fine\n")


def test_synthesize_places_lines_with_lead_in_gaps_and_tail():
    pcm, plan = synthesize(parse_script(SCRIPT), default_gap=1.0, lead_in=0.5, tail=1.0)
    seconds = [len(line.text) * SYMBOL_SECONDS for line in plan]
    starts = [0.5]
    for gap, previous in zip([1.0, 2.5, 1.0, 0.5], seconds):
        starts.append(starts[-1] + previous + gap)
    assert [u.start for u in plan] == pytest.approx(starts, abs=1e-3)
    assert [u.end - u.start for u in plan] == pytest.approx(seconds, abs=1e-3)
    assert pcm.dtype == np.int16 and pcm.size / 16000 == pytest.approx(plan[-1].end + 1.0, abs=1e-3)
    assert [(u.speaker, u.speaker_index) for u in plan] == [
        ("Guest-1", 0),
        ("Guest-2", 1),
        ("Dr. Jones", 2),
        ("Guest-1", 0),
        ("Guest-2", 1),
    ]


def test_silence_before_the_first_and_after_the_last_line_extends_lead_in_and_tail():
    pcm, plan = synthesize([ScriptGap(2), ScriptLine("A", "hi"), ScriptGap(3)], lead_in=0.5, tail=1)
    assert plan[0].start == pytest.approx(2.5)
    assert pcm.size / 16000 == pytest.approx(plan[0].end + 4)
    silent, nothing = synthesize([], lead_in=0.5, tail=1)
    assert nothing == [] and silent.size == 24000 and not silent.any()


def test_the_decoder_hears_the_plan():
    pcm, plan = synthesize(parse_script(SCRIPT))
    heard = decode(pcm)
    assert [(p.text, p.speaker) for p in heard] == [(u.text, u.speaker_index) for u in plan]
    for phrase, planned in zip(heard, plan):
        assert phrase.offset / 16000 == pytest.approx(planned.start, abs=SYMBOL_SECONDS)
        assert (phrase.offset + phrase.duration) / 16000 == pytest.approx(planned.end, abs=SYMBOL_SECONDS)


def test_synthesize_at_another_rate():
    pcm, plan = synthesize([ScriptLine("A", "hello")], sample_rate=44100)
    assert pcm.size == round((0.5 + 5 * SYMBOL_SECONDS + 1.0) * 44100)
    assert [p.text for p in decode(pcm, sample_rate=44100)] == ["hello"]
    assert plan == [PlannedUtterance("A", 0, "hello", 0.5, pytest.approx(0.5 + 5 * SYMBOL_SECONDS, abs=1e-4))]


def test_more_speakers_than_voices_is_refused():
    lines = [ScriptLine(f"P{i}", "hi") for i in range(MAX_SPEAKERS + 1)]
    with pytest.raises(ValueError, match=f"P{MAX_SPEAKERS}"):
        synthesize(lines)


def test_wav_round_trip(tmp_path):
    pcm, _ = synthesize(parse_script("A: hello"))
    write_wav(tmp_path / "a.wav", pcm)
    samples, rate = read_wav(tmp_path / "a.wav")
    assert rate == 16000 and samples.dtype == np.int16
    np.testing.assert_array_equal(samples, pcm)
    with wave.open(str(tmp_path / "a.wav")) as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (1, 2, 16000)


def test_write_wav_wants_mono_int16(tmp_path):
    with pytest.raises(ValueError, match="int16"):
        write_wav(tmp_path / "f.wav", np.zeros(10, dtype=np.float32))
    with pytest.raises(ValueError, match="mono"):
        write_wav(tmp_path / "s.wav", np.zeros((10, 2), dtype=np.int16))


def _raw_wav(path, channels, width):
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(channels)
        wav.setsampwidth(width)
        wav.setframerate(16000)
        wav.writeframes(b"\x00" * channels * width * 100)


def test_read_wav_says_what_is_wrong(tmp_path):
    _raw_wav(tmp_path / "stereo.wav", 2, 2)
    _raw_wav(tmp_path / "8bit.wav", 1, 1)
    (tmp_path / "text.wav").write_text("not audio at all")
    with pytest.raises(ValueError, match="2 channels"):
        read_wav(tmp_path / "stereo.wav")
    with pytest.raises(ValueError, match="8-bit"):
        read_wav(tmp_path / "8bit.wav")
    with pytest.raises(ValueError, match="not a PCM WAV"):
        read_wav(tmp_path / "text.wav")


def test_importing_the_script_module_is_cheap():
    code = "import sys, roomscribe.emulator.script; print('numpy' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert result.stdout.strip() == "False"
