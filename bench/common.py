"""Shared helpers for the daemon's benchmarks: a broker, traceable audio, and reading the emulator's record.

Traceable audio: tone speech with a faint pseudo-random dither (±3 LSB, about -84 dBFS, far below the
recognizer's -60 dBFS floor) added to every sample. No two stretches of 16 samples are then alike, so any
piece of audio that reached the emulator can be found in the file, which gives the moment it was captured.
The pause tail is exact zeros and never matches the file.
"""

from __future__ import annotations

import shutil
import socket
import statistics
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from roomscribe.core.audio_format import BYTES_PER_SECOND, CHUNK_BYTES, SAMPLE_WIDTH

DITHER_LSB = 3
WINDOW_BYTES = 32  # 16 samples: long enough to be unique in a dithered file, short enough to fit any frame
MACHINE = "2 cores, shared with other engineers' test runs"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Broker:
    """A private Mosquitto on a free loopback port (anonymous, no persistence), stopped by `stop`."""

    def __init__(self) -> None:
        self._dir = Path(tempfile.mkdtemp(prefix="bench-mosquitto-"))
        self.port = free_port()
        self._process: subprocess.Popen | None = None

    def start(self, timeout: float = 15.0) -> "Broker":
        config = self._dir / "mosquitto.conf"
        config.write_text(f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
        binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        self._process = subprocess.Popen([binary, "-c", str(config)], stdout=subprocess.DEVNULL,
                                         stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError("mosquitto exited at start")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"mosquitto did not listen on {self.port}")

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
        shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> "Broker":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


# -- traceable audio ---------------------------------------------------------------------------------


def traceable_meeting(script: str, *, seed: int = 7, **synth):
    """(pcm bytes, planned utterances) of a meeting script, dithered so every stretch of it is unique."""
    import numpy as np

    from roomscribe.emulator.script import parse_script, synthesize

    samples, planned = synthesize(parse_script(script), **synth)
    dither = np.random.default_rng(seed).integers(-DITHER_LSB, DITHER_LSB + 1, samples.size)
    mixed = np.clip(samples.astype(np.int32) + dither, -32768, 32767).astype("<i2")
    return mixed.tobytes(), planned


def write_pcm_wav(path: Path, pcm: bytes) -> Path:
    import wave

    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(SAMPLE_WIDTH)
        wav.setframerate(BYTES_PER_SECOND // SAMPLE_WIDTH)
        wav.writeframes(pcm)
    return path


@dataclass(frozen=True)
class Playback:
    """Where a file source put each byte in time: byte `p` was captured at started_at + p / rate / speed."""

    pcm: bytes
    started_at: float
    speed: float = 1.0

    def captured_at(self, position: int) -> float:
        """Capture time of the chunk holding `position` (its first sample), as the file source stamps it."""
        chunk_start = position - position % CHUNK_BYTES
        return self.started_at + chunk_start / BYTES_PER_SECOND / self.speed

    def locate(self, data: bytes) -> int | None:
        """The file position of the last traceable stretch in `data`, or None if none is from the file.

        The last one, because a frame that holds the end of a pause tail and the first audio after a
        resume must count as carrying that audio.
        """
        end = len(data) - len(data) % SAMPLE_WIDTH
        for start in range(end - WINDOW_BYTES, -1, -WINDOW_BYTES):
            window = data[start : start + WINDOW_BYTES]
            if not any(window):
                continue  # tail silence: exact zeros, in no file
            found = self.pcm.find(window)
            while found != -1 and found % SAMPLE_WIDTH:
                found = self.pcm.find(window, found + 1)
            if found != -1:
                return found
        return None

    def chunks_between(self, since: float, until: float) -> list[tuple[int, bytes]]:
        """(position, pcm) of every whole chunk captured from `since` until `until` (both wall clock)."""
        chunks = []
        for begin in range(0, len(self.pcm), CHUNK_BYTES):
            start = self.started_at + begin / BYTES_PER_SECOND / self.speed
            end = start + CHUNK_BYTES / BYTES_PER_SECOND / self.speed
            if start >= since and end <= until:
                chunks.append((begin, self.pcm[begin : begin + CHUNK_BYTES]))
        return chunks


def leaked_chunks(chunks: list[tuple[int, bytes]], received: list[bytes]) -> list[tuple[int, int]]:
    """(position, bytes) of each of `chunks` found in any `received` stream, whole or either half of it."""
    leaks = []
    for position, pcm in chunks:
        half = len(pcm) // 2 - len(pcm) // 2 % SAMPLE_WIDTH
        for piece in (pcm, pcm[:half], pcm[half:]):
            if any(piece in stream for stream in received):
                leaks.append((position, len(piece)))
                break
    return leaks


def leaked_bytes(chunks: list[tuple[int, bytes]], received: list[bytes]) -> int:
    return sum(size for _, size in leaked_chunks(chunks, received))


def first_live_frame(frames, playback: Playback, *, after: float, live_since: float):
    """The first PCM frame arriving after `after` that carries audio captured at or after `live_since`."""
    for frame in sorted((f for f in frames if f.kind == "pcm" and f.arrived_at >= after), key=lambda f: f.arrived_at):
        position = playback.locate(frame.data)
        if position is not None and playback.captured_at(position) >= live_since:
            return frame
    return None


# -- figures -----------------------------------------------------------------------------------------


def median_max(values: list[float]) -> tuple[float, float]:
    return statistics.median(values), max(values)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:7.1f} ms"


class TranscriptListener:
    """Collects the daemon's final utterances from MQTT (`<base>/transcript`), as a user of it would."""

    def __init__(self, port: int, base_topic: str) -> None:
        import json
        import threading

        import paho.mqtt.client as mqtt

        from roomscribe.outputs.mqtt.topics import Topics

        self.utterances: list[dict] = []
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        topic = Topics(base_topic).transcript

        def on_message(client, userdata, msg) -> None:
            if msg.payload:
                with self._lock:
                    self.utterances.append(json.loads(msg.payload))

        self._client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"bench-{time.monotonic_ns()}")
        self._client.on_connect = lambda client, userdata, flags, rc, props: client.subscribe(topic, qos=1)
        self._client.on_subscribe = lambda *args: self._subscribed.set()
        self._client.on_message = on_message
        self._client.connect("127.0.0.1", port)
        self._client.loop_start()
        if not self._subscribed.wait(10):
            raise RuntimeError("the transcript listener did not subscribe")

    def heard(self) -> list[tuple[str, str]]:
        """(speaker, text) in arrival order."""
        with self._lock:
            return [(u["speaker"], u["text"]) for u in self.utterances]

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()
