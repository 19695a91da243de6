"""The microphone source on the real PortAudio path: PyAudio → ALSA → PulseAudio null sink monitor.

What paplay plays into the sink is what the source captures, at real-time pace. A PulseAudio null
sink's monitor takes about 2 s to deliver its first audio; timeouts allow for that and a busy machine.
"""

from __future__ import annotations

import subprocess
import time

import numpy as np
import pytest

from roomscribe.core.audio_format import CHUNK_BYTES, CHUNK_MS, SAMPLE_RATE
from roomscribe.audio.microphone import MicrophoneSource, capture_devices
from roomscribe.core.backoff import Backoff
from roomscribe.emulator import tonespeech
from roomscribe.emulator.decode import decode
from roomscribe.emulator.script import write_wav
from tests.support.audio_recorder import SourceRecorder
from tests.support.pulse import PulseServer, pulse_available, running_pulse

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not pulse_available(), reason="PulseAudio tools are not installed"),
]

FIRST_AUDIO_TIMEOUT = 20.0


@pytest.fixture(scope="module")
def pulse():
    with running_pulse() as server, pytest.MonkeyPatch.context() as env:
        server.apply_env(env)
        yield server


@pytest.fixture
def capture():
    """Starts sources on a fresh recorder and stops every one of them, whatever the test did."""
    started: list[MicrophoneSource] = []

    def start(device, **options) -> tuple[MicrophoneSource, SourceRecorder]:
        source, recorder = MicrophoneSource(device, **options), SourceRecorder()
        started.append(source)
        source.start(recorder.on_chunk, recorder.on_status)
        return source, recorder

    yield start
    for source in started:
        source.stop()

CHUNK_S = CHUNK_MS / 1000


def pulse_index() -> int:
    import pyaudio

    pa = pyaudio.PyAudio()
    try:
        return next(d["index"] for d in capture_devices(pa) if d["name"] == "pulse")
    finally:
        pa.terminate()


def test_default_device_gives_whole_chunks_stamped_with_the_wall_clock(pulse, capture):
    source, recorder = capture("default")
    recorder.wait_for_chunks(100, FIRST_AUDIO_TIMEOUT)
    source.stop()

    assert recorder.kinds() == ["opened", "flowing"]  # flowing: reported on the first delivery, not at open
    arrivals = recorder.arrivals
    assert {len(a.chunk.pcm) for a in arrivals} == {CHUNK_BYTES}
    times = np.array([a.chunk.captured_at for a in arrivals])
    assert np.all(np.diff(times) > 0)
    assert np.median(np.diff(times)) == pytest.approx(CHUNK_S, abs=0.001)
    # Stamped with the capture time of the first sample: never after the chunk was handed over, and
    # close to it (the whole chunk had to be captured first; scheduling adds a little).
    delays = np.array([a.received_at for a in arrivals]) - times
    assert delays.min() >= CHUNK_S - 0.005
    assert np.median(delays) < 0.3
    assert source.overflows == 0


def test_a_played_phrase_is_captured_with_its_content_and_its_time(pulse, capture, tmp_path):
    spoken = tonespeech.encode("Room 42 here", 3)
    write_wav(tmp_path / "phrase.wav", spoken)
    source, recorder = capture("PULSE")  # a name substring, in any case
    recorder.wait_for_chunks(10, FIRST_AUDIO_TIMEOUT)
    assert recorder.statuses[0].kind == "opened" and recorder.statuses[0].detail.endswith(": pulse")

    played_at = time.time()
    subprocess.run(["paplay", "--device=room", str(tmp_path / "phrase.wav")], env=pulse.env, check=True, timeout=30)
    heard_until = time.time() + 0.6
    recorder.wait_for(lambda r: r.chunks[-1].captured_at > heard_until, 10, "the phrase's tail")
    source.stop()

    chunks = recorder.chunks
    pcm = b"".join(c.pcm for c in chunks)
    phrases = decode(pcm)
    assert [(p.text, p.speaker) for p in phrases] == [("Room 42 here", 3)]
    # The chunks are contiguous, so the phrase's sample offset converts to a capture time. It was
    # captured after paplay started (allowing for the null sink rendering a little ahead) and soon after.
    spoken_at = chunks[0].captured_at + phrases[0].offset / SAMPLE_RATE
    assert played_at - 0.3 < spoken_at < played_at + 1.5
    # Silence before it is silence: the sink's monitor adds nothing of its own.
    samples = np.frombuffer(pcm, "<i2").astype(np.float64)
    before = samples[: max(0, phrases[0].offset - SAMPLE_RATE // 10)]
    during = samples[phrases[0].offset : phrases[0].offset + phrases[0].duration]
    assert before.size == 0 or np.sqrt(np.mean(before**2)) < 10
    assert np.sqrt(np.mean(during**2)) > 1000


@pytest.mark.parametrize("as_text", [False, True], ids=["int", "digits"])
def test_a_device_by_index(pulse, capture, as_text):
    index = pulse_index()
    source, recorder = capture(str(index) if as_text else index)
    recorder.wait_for_chunks(10, FIRST_AUDIO_TIMEOUT)
    source.stop()
    assert recorder.statuses[0].detail == f"{index}: pulse"


@pytest.mark.parametrize(
    ("device", "problem"),
    [("no-such-mic", "no capture device matches 'no-such-mic'"), (97, "97 is not a capture device index")],
)
def test_a_missing_device_is_reported_once_and_retried_until_stopped(pulse, capture, device, problem):
    backoff = Backoff(initial=0.05, cap=0.1)
    source, recorder = capture(device, backoff=backoff)

    lost = recorder.wait_for_status("lost", 15)
    assert problem in lost.detail
    assert "available: " in lost.detail and "pulse" in lost.detail and "default" in lost.detail
    recorder.wait_for(lambda r: backoff.attempts >= 4, 15, "retries")
    assert recorder.kinds() == ["lost"]  # the same failure again is not reported again

    source.stop()
    attempts = backoff.attempts
    assert not source._thread.is_alive()
    time.sleep(0.3)
    assert backoff.attempts == attempts and recorder.chunks == []


def test_a_lost_sound_server_is_reported_and_capture_resumes_when_it_returns(capture, monkeypatch):
    with running_pulse() as server:
        server.apply_env(monkeypatch)
        source, recorder = capture("default", backoff=Backoff(initial=0.2, cap=1.0))
        recorder.wait_for_chunks(10, FIRST_AUDIO_TIMEOUT)

        server.kill()
        killed_at = time.time()
        lost = recorder.wait_for_status("lost", 10)
        assert "default" in lost.detail
        delivered_before_loss = len(recorder.chunks)
        time.sleep(1.0)  # a few failed attempts while the server is away
        assert len(recorder.chunks) == delivered_before_loss

        server.start()
        recorder.wait_for_status("opened", 20, count=2)
        recorder.wait_for_chunks(delivered_before_loss + 10, FIRST_AUDIO_TIMEOUT)
        source.stop()

    kinds = recorder.kinds()
    assert kinds[:3] == ["opened", "flowing", "lost"] and kinds[-2:] == ["opened", "flowing"]
    resumed = recorder.chunks[delivered_before_loss:]
    assert {len(c.pcm) for c in resumed} == {CHUNK_BYTES}
    assert resumed[0].captured_at > killed_at
    assert np.all(np.diff([c.captured_at for c in recorder.chunks]) > 0)


def test_a_48_khz_stereo_device_is_captured_at_16_khz_mono_through_the_sound_server(capture, monkeypatch, tmp_path):
    """Most USB microphones run at 44.1/48 kHz; PulseAudio's "default" (like ALSA's plughw:) converts to
    the 16 kHz mono roomscribe opens, and what was said survives the conversion (config.yaml.example)."""
    import soxr

    spoken = np.frombuffer(tonespeech.encode("Forty eight k", 2), "<i2").astype(np.float32)
    at_48k = np.clip(soxr.resample(spoken, SAMPLE_RATE, 48000), -32768, 32767).astype("<i2")
    stereo = np.repeat(at_48k[:, None], 2, axis=1)
    path = tmp_path / "phrase48k.wav"
    import wave

    with wave.open(str(path), "wb") as out:
        out.setnchannels(2)
        out.setsampwidth(2)
        out.setframerate(48000)
        out.writeframes(stereo.tobytes())
    server = PulseServer(rate=48000, channels=2).start()
    try:
        server.apply_env(monkeypatch)
        source, recorder = capture("default")
        recorder.wait_for_chunks(10, FIRST_AUDIO_TIMEOUT)
        subprocess.run(["paplay", "--device=room", str(path)], env=server.env, check=True, timeout=30)
        heard_until = time.time() + 0.6
        recorder.wait_for(lambda r: r.chunks[-1].captured_at > heard_until, 10, "the phrase's tail")
        source.stop()
    finally:
        server.close()
    assert {len(c.pcm) for c in recorder.chunks} == {CHUNK_BYTES}
    phrases = decode(b"".join(c.pcm for c in recorder.chunks))
    assert [(p.text, p.speaker) for p in phrases] == [("Forty eight k", 2)]
