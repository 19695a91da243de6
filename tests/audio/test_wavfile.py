"""The WAV file source: format checks and conversion (load_pcm), pacing, capture times, end and loop."""

from __future__ import annotations

import shutil
import struct
import subprocess
import time

import numpy as np
import pytest

from roomscribe.core.audio_format import CHUNK_BYTES, CHUNK_MS, SAMPLE_RATE
from roomscribe.core.backoff import Backoff
from roomscribe.audio.source import AudioSourceError
from roomscribe.audio.wavfile import WavFileSource, load_pcm
from roomscribe.emulator import tonespeech
from roomscribe.emulator.decode import decode
from tests.support.audio_recorder import SourceRecorder
from tests.support.clocks import SteppedClock

PCM_TAG, FLOAT_TAG, EXTENSIBLE_TAG = 1, 3, 0xFFFE

CHUNK_S = CHUNK_MS / 1000


def wav_bytes(
    data: bytes,
    *,
    channels: int = 1,
    rate: int = SAMPLE_RATE,
    bits: int = 16,
    tag: int = PCM_TAG,
    extensible: bool = False,
    extra_chunks: bytes = b"",
) -> bytes:
    """A RIFF/WAVE file built field by field, so each header variant is exactly the one under test."""
    block_align = channels * bits // 8
    fields = struct.pack("<HHIIHH", EXTENSIBLE_TAG if extensible else tag, channels, rate, rate * block_align,
                         block_align, bits)
    if extensible:  # cbSize, valid bits, channel mask, sub-format GUID (tag + the fixed tail)
        guid_tail = bytes.fromhex("000000001000800000aa00389b71")
        fields += struct.pack("<HHI", 22, bits, 0) + struct.pack("<H", tag) + guid_tail
    fmt = b"fmt " + struct.pack("<I", len(fields)) + fields
    body = b"WAVE" + fmt + extra_chunks + b"data" + struct.pack("<I", len(data)) + data + b"\0" * (len(data) & 1)
    return b"RIFF" + struct.pack("<I", len(body)) + body


def write(path, data: bytes, **header) -> object:
    path.write_bytes(wav_bytes(data, **header))
    return path


def sine(hz: float, seconds: float, rate: int = SAMPLE_RATE, amplitude: float = 8000.0) -> np.ndarray:
    return amplitude * np.sin(2 * np.pi * hz * np.arange(int(seconds * rate)) / rate)


def pcm16(samples: np.ndarray) -> bytes:
    return np.rint(samples).astype("<i2").tobytes()


def spectrum(pcm: bytes) -> tuple[np.ndarray, np.ndarray]:
    """Frequencies and sine amplitudes of 16 kHz PCM."""
    samples = np.frombuffer(pcm, "<i2").astype(np.float64)
    return np.fft.rfftfreq(samples.size, 1 / SAMPLE_RATE), 2 * np.abs(np.fft.rfft(samples)) / samples.size


# -- load_pcm: what is read as is, converted, or refused --------------------------------------------


def test_16k_mono_16bit_is_read_unchanged(tmp_path):
    data = pcm16(sine(440, 0.5))
    assert load_pcm(write(tmp_path / "a.wav", data)) == data


def test_chunks_other_than_fmt_and_data_are_skipped_and_extensible_16bit_is_pcm(tmp_path):
    data = pcm16(sine(440, 0.1))
    odd_chunk = b"LIST" + struct.pack("<I", 3) + b"abc" + b"\0"  # odd length: padded to even
    path = write(tmp_path / "a.wav", data, extensible=True, extra_chunks=odd_chunk)
    assert load_pcm(path) == data


def test_44k1_stereo_is_converted_to_16k_mono_with_the_same_content(tmp_path):
    spoken = tonespeech.encode("Room 42, hello", 3, sample_rate=44_100)
    stereo = np.repeat(spoken[:, None], 2, axis=1)  # both channels alike: interleaved L R L R
    path = write(tmp_path / "cd.wav", stereo.astype("<i2").tobytes(), channels=2, rate=44_100)

    pcm = load_pcm(path)

    assert len(pcm) // 2 == pytest.approx(len(spoken) * SAMPLE_RATE / 44_100, abs=2)
    heard = decode(pcm)
    assert [(p.text, p.speaker) for p in heard] == [("Room 42, hello", 3)]


def test_stereo_channels_are_mixed_not_interleaved(tmp_path):
    left, right = sine(500, 1.0, rate=48_000), sine(1500, 1.0, rate=48_000)
    frames = np.stack([left, right], axis=1)
    pcm = load_pcm(write(tmp_path / "two.wav", pcm16(frames), channels=2, rate=48_000))

    freqs, amplitudes = spectrum(pcm)
    strongest = np.argsort(amplitudes)[-2:]
    assert sorted(freqs[strongest]) == pytest.approx([500, 1500], abs=1)
    # Each channel contributes half: both 8000-amplitude sines are 4000 in the mix.
    assert amplitudes[strongest] == pytest.approx([4000, 4000], rel=0.03)


@pytest.mark.parametrize(
    ("bits", "tag", "extensible", "problem"),
    [
        (8, PCM_TAG, False, "8-bit samples"),
        (24, PCM_TAG, False, "24-bit samples"),
        (24, PCM_TAG, True, "24-bit samples"),
        (32, PCM_TAG, False, "32-bit samples"),
        (32, FLOAT_TAG, False, "32-bit float samples"),
        (32, FLOAT_TAG, True, "32-bit float samples"),
        (8, 6, False, "not PCM (WAVE format 0x0006)"),  # A-law
    ],
)
def test_other_sample_formats_are_refused_naming_file_and_problem(tmp_path, bits, tag, extensible, problem):
    path = write(tmp_path / "odd.wav", bytes(bits // 8 * 1600), bits=bits, tag=tag, extensible=extensible)
    with pytest.raises(AudioSourceError) as caught:
        load_pcm(path)
    message = str(caught.value)
    assert str(path) in message and problem in message
    assert "sox" in message  # and says how to fix it


@pytest.mark.skipif(not shutil.which("sox"), reason="sox is not installed")
@pytest.mark.parametrize(("options", "problem"), [(["-b", "24"], "24-bit samples"), (["-b", "8"], "8-bit samples")])
def test_files_written_by_sox_are_refused_the_same_way(tmp_path, options, problem):
    source, converted = write(tmp_path / "a.wav", pcm16(sine(440, 0.2))), tmp_path / "b.wav"
    subprocess.run(["sox", str(source), *options, str(converted)], check=True, capture_output=True, timeout=30)
    with pytest.raises(AudioSourceError, match=problem) as caught:
        load_pcm(converted)
    assert str(converted) in str(caught.value)


def test_missing_file(tmp_path):
    with pytest.raises(AudioSourceError) as caught:
        load_pcm(tmp_path / "absent.wav")
    assert str(tmp_path / "absent.wav") in str(caught.value) and "does not exist" in str(caught.value)


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"Hello, this is a text file and not audio at all.\n", "not a WAV file"),
        (b"", "not a WAV file"),
        (wav_bytes(b"\0\0" * 100)[:36], "no data chunk"),  # header cut off before the data
        (b"RIFF\x04\0\0\0WAVE", "no fmt chunk"),
        (wav_bytes(b""), "holds no audio"),
        (wav_bytes(b"\0\0" * 10, channels=0), "0 channels"),
    ],
    ids=["text", "empty", "cut-header", "no-fmt", "no-samples", "no-channels"],
)
def test_broken_files_are_refused_naming_file_and_problem(tmp_path, content, problem):
    path = tmp_path / "broken.wav"
    path.write_bytes(content)
    with pytest.raises(AudioSourceError) as caught:
        load_pcm(path)
    assert str(path) in str(caught.value) and problem in str(caught.value)


def test_a_directory_is_refused(tmp_path):
    with pytest.raises(AudioSourceError, match="is a directory"):
        load_pcm(tmp_path)


def test_a_truncated_data_chunk_plays_what_is_there(tmp_path):
    """Recorders killed mid-write leave a data size past the end of the file."""
    data = pcm16(sine(440, 0.1))
    path = tmp_path / "cut.wav"
    path.write_bytes(wav_bytes(data)[:-101])  # also tears the last sample in half
    assert load_pcm(path) == data[:-102]


def test_the_source_fails_at_construction_on_a_bad_file(tmp_path):
    path = write(tmp_path / "b8.wav", bytes(1600), bits=8)
    with pytest.raises(AudioSourceError, match="8-bit"):
        WavFileSource(path)


# -- WavFileSource: pacing, capture times, statuses -------------------------------------------------


def play(path, *, speed: float, count: int | None = None, loop: bool = False, timeout: float = 20.0):
    source = WavFileSource(path, speed=speed, loop=loop)
    recorder = SourceRecorder()
    began = time.monotonic()
    source.start(recorder.on_chunk, recorder.on_status)
    try:
        if count is None:
            recorder.wait_for_status("ended", timeout)
        else:
            recorder.wait_for_chunks(count, timeout)
        took = time.monotonic() - began
    finally:
        source.stop()
    return source, recorder, took


@pytest.mark.parametrize("speed", [1.0, 10.0])
def test_a_file_plays_in_order_at_its_pace_then_ends(tmp_path, speed):
    seconds = 1.0 if speed == 1.0 else 3.0
    data = pcm16(sine(440, seconds) + np.linspace(-3000, 3000, int(seconds * SAMPLE_RATE)))  # no two chunks alike
    source, recorder, took = play(write(tmp_path / "m.wav", data), speed=speed)

    assert source.duration == pytest.approx(seconds)
    chunks = recorder.chunks
    assert len(chunks) == round(seconds / CHUNK_S) and {len(c.pcm) for c in chunks} == {CHUNK_BYTES}
    assert b"".join(c.pcm for c in chunks) == data
    assert recorder.kinds() == ["opened", "flowing", "ended"]
    # Paced, not dumped: the whole file takes at least about its duration / speed.
    assert took >= 0.8 * seconds / speed
    times = np.array([c.captured_at for c in chunks])
    assert np.diff(times) == pytest.approx(np.full(len(times) - 1, CHUNK_S / speed), abs=1e-6)
    assert source.started_at == times[0]
    # No chunk is handed over before its last sample would have been captured.
    for arrival in recorder.arrivals:
        assert arrival.received_at >= arrival.chunk.captured_at + CHUNK_S / speed - 0.002
    assert abs(times[0] - time.time()) < 60  # wall-clock epoch seconds, not monotonic time


def test_played_says_how_much_of_the_file_was_handed_on(tmp_path):
    data = varied(1.0)
    source = WavFileSource(write(tmp_path / "m.wav", data), speed=5.0)
    assert source.played_s == 0.0
    handed: list[float] = []

    def sink(chunk):
        handed.append(source.played_s)  # read during the hand-over: only what came before counts
        return True

    source.start(sink, lambda status: None)
    try:
        deadline = time.monotonic() + 20
        while source.played_s < source.duration and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        source.stop()
    assert source.played_s == pytest.approx(source.duration)
    assert handed == pytest.approx([i * CHUNK_S for i in range(len(handed))])  # 0, then one chunk more each time


def test_the_last_chunk_may_be_short(tmp_path):
    data = pcm16(sine(440, 0.2))[: 5 * CHUNK_BYTES + 20]
    _, recorder, _ = play(write(tmp_path / "m.wav", data), speed=10.0)
    assert [len(c.pcm) for c in recorder.chunks] == [CHUNK_BYTES] * 5 + [20]
    assert recorder.kinds()[-1] == "ended"


def test_a_looped_file_starts_again_without_a_gap_until_stopped(tmp_path):
    seconds = 10 * CHUNK_S  # 10 chunks a pass
    data = pcm16(sine(440, seconds) + np.linspace(-3000, 3000, round(seconds * SAMPLE_RATE)))
    source, recorder, _ = play(write(tmp_path / "m.wav", data), speed=5.0, loop=True, count=35)

    after_stop = len(recorder.chunks)
    time.sleep(0.2)
    assert len(recorder.chunks) == after_stop  # stop() ended it
    chunks = recorder.chunks
    assert recorder.kinds() == ["opened", "flowing"]  # a loop never ends; a stop is not an end
    joined = b"".join(c.pcm for c in chunks)
    passes = len(joined) // len(data)
    assert passes >= 3 and joined == (data * (passes + 1))[: len(joined)]
    times = np.array([c.captured_at for c in chunks])
    assert np.diff(times) == pytest.approx(np.full(len(times) - 1, CHUNK_S / 5), abs=1e-6)  # continuous across passes
    # started_at is the first sample of the latest pass: the last chunk's, or the next one's if
    # the stop came between the two passes.
    last_pass = (len(chunks) - 1) // 10
    assert any(source.started_at == pytest.approx(times[0] + k * seconds / 5, abs=1e-6) for k in (last_pass, last_pass + 1))


def test_stopping_mid_file_reports_no_end(tmp_path):
    data = pcm16(sine(440, 2.0))
    source, recorder, _ = play(write(tmp_path / "m.wav", data), speed=1.0, count=5)
    time.sleep(0.1)
    assert recorder.kinds() == ["opened", "flowing"]
    assert 5 <= len(recorder.chunks) < 100


def test_a_file_holds_its_first_chunk_until_the_sink_takes_it_live(tmp_path):
    """On demand: the first sample that goes out is the file's first, however long the gate stayed shut."""
    data = pcm16(sine(440, 0.5) + np.linspace(-3000, 3000, int(0.5 * SAMPLE_RATE)))
    source = WavFileSource(write(tmp_path / "m.wav", data), speed=1.0)
    offers, taken, statuses = [], [], []
    opens_at = time.time() + 0.3

    def sink(chunk):
        offers.append(chunk)
        if time.time() < opens_at:
            return False  # the gate is still closed: dropped
        taken.append(chunk)
        return True

    source.start(sink, statuses.append)
    try:
        deadline = time.monotonic() + 10
        while not any(s.kind == "ended" for s in statuses) and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        source.stop()
    refused = offers[: len(offers) - len(taken)]
    assert len(refused) >= 20 and all(c.pcm == data[:CHUNK_BYTES] for c in refused)  # offered again and again
    assert b"".join(c.pcm for c in taken) == data  # then the whole file, from its first sample
    assert [s.kind for s in statuses] == ["opened", "flowing", "ended"]
    assert source.started_at == taken[0].captured_at >= opens_at - CHUNK_S - 0.002
    times = np.array([c.captured_at for c in taken])
    assert np.diff(times) == pytest.approx(np.full(len(times) - 1, CHUNK_S), abs=1e-6)


# -- each meeting plays the file again; a file gone is reported as a device would be ------------------


def varied(seconds: float, hz: float = 440) -> bytes:
    """PCM in which no two chunks are alike."""
    return pcm16(sine(hz, seconds) + np.linspace(-3000, 3000, round(seconds * SAMPLE_RATE)))


def started(path, **kwargs) -> tuple[WavFileSource, SourceRecorder]:
    source = WavFileSource(path, backoff=Backoff(initial=0.05, cap=0.2), **kwargs)
    recorder = SourceRecorder()
    source.start(recorder.on_chunk, recorder.on_status)
    return source, recorder


def test_each_meeting_plays_the_file_again_from_its_first_sample(tmp_path):
    data = varied(0.3)
    source, recorder = started(write(tmp_path / "m.wav", data), speed=10.0)
    try:
        recorder.wait_for_status("ended", 10)
        source.meeting_started()  # the next meeting
        recorder.wait_for_status("ended", 10, count=2)
    finally:
        source.stop()
    assert b"".join(c.pcm for c in recorder.chunks) == data + data
    assert recorder.kinds() == ["opened", "flowing", "ended", "opened", "flowing", "ended"]


def test_a_meeting_that_starts_mid_file_plays_it_from_the_start(tmp_path):
    data = varied(2.0)
    source, recorder = started(write(tmp_path / "m.wav", data), speed=1.0)
    try:
        recorder.wait_for_chunks(10, 10)
        source.meeting_started()
        recorder.wait_for_status("flowing", 10, count=2)
        before = len(recorder.chunks)
        recorder.wait_for_chunks(before + 5, 10)
    finally:
        source.stop()
    chunks = recorder.chunks
    restart = next(i for i in range(1, len(chunks)) if chunks[i].pcm == data[:CHUNK_BYTES])
    assert 10 <= restart <= before
    assert b"".join(c.pcm for c in chunks[restart:]) == data[: len(chunks[restart:]) * CHUNK_BYTES]
    assert recorder.kinds() == ["opened", "flowing", "opened", "flowing"]  # a restart is not an end


def test_a_meeting_that_starts_while_the_file_waits_to_be_played_changes_nothing(tmp_path):
    data = varied(0.2)
    source = WavFileSource(write(tmp_path / "m.wav", data), speed=10.0)
    recorder, open_at = SourceRecorder(), time.monotonic() + 0.3

    def sink(chunk):
        if time.monotonic() < open_at:
            return False  # the gate is closed: the file holds its first chunk
        recorder.on_chunk(chunk)
        return True

    source.start(sink, recorder.on_status)
    try:
        time.sleep(0.1)
        source.meeting_started()  # the meeting that will take the first chunk
        recorder.wait_for_status("ended", 10)
    finally:
        source.stop()
    assert b"".join(c.pcm for c in recorder.chunks) == data
    assert recorder.kinds() == ["opened", "flowing", "ended"]


def test_a_file_removed_between_meetings_is_lost_until_it_is_back_and_a_changed_one_is_read_again(tmp_path):
    first, second = varied(0.2, 440), varied(0.3, 880)
    path = write(tmp_path / "m.wav", first)
    source, recorder = started(path, speed=10.0)
    try:
        recorder.wait_for_status("ended", 10)
        path.unlink()
        source.meeting_started()
        lost = recorder.wait_for_status("lost", 10)
        assert lost.detail == f"audio.file: {path} does not exist"
        time.sleep(0.5)  # retried meanwhile: a loss that repeats is reported once
        assert recorder.kinds().count("lost") == 1
        write(path, second)
        recorder.wait_for_status("ended", 10, count=2)
        path.write_bytes(wav_bytes(bytes(3200), bits=8))  # changed into a format it cannot play
        source.meeting_started()
        unplayable = recorder.wait_for_status("lost", 10, count=2)
        assert "8-bit samples" in unplayable.detail and str(path) in unplayable.detail
    finally:
        source.stop()
    assert b"".join(c.pcm for c in recorder.chunks) == first + second
    assert recorder.kinds() == ["opened", "flowing", "ended", "lost", "opened", "flowing", "ended", "lost"]


def test_capture_times_follow_a_step_of_the_wall_clock(tmp_path):
    clock = SteppedClock(offset=-3 * 86400)
    source = WavFileSource(write(tmp_path / "m.wav", varied(1.0)), speed=10.0, clock=clock)
    recorder = SourceRecorder()
    source.start(recorder.on_chunk, recorder.on_status)
    try:
        recorder.wait_for_chunks(40, 10)
        clock.step(3 * 86400)
        recorder.wait_for_status("ended", 10)
    finally:
        source.stop()
    chunks = recorder.chunks
    monotonic = np.array([c.captured_mono for c in chunks])
    assert np.diff(monotonic) == pytest.approx(np.full(len(chunks) - 1, CHUNK_S / 10), abs=1e-6)  # one schedule
    jumps = np.diff([c.captured_at for c in chunks]) - CHUNK_S / 10
    [stepped] = np.flatnonzero(np.abs(jumps) > 1e-6)
    assert jumps[stepped] == pytest.approx(3 * 86400, abs=0.01)
    assert abs(chunks[-1].captured_at - time.time()) < 5  # on the clock after the step
