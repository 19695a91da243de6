"""A WAV file played as the meeting, at real-time pace (or `speed` times faster, for tests)."""

from __future__ import annotations

import logging
import threading
import time
import wave
from pathlib import Path

from roomscribe.audio.format import CHUNK_BYTES, SAMPLE_RATE, SAMPLE_WIDTH, AudioChunk, bytes_to_seconds
from roomscribe.audio.source import AudioSourceError, ChunkSink, SourceStatus, StatusSink

log = logging.getLogger(__name__)


def load_pcm(path: Path) -> bytes:
    """16 kHz mono 16-bit PCM from a WAV file; other rates and channel counts are converted."""
    try:
        with wave.open(str(path), "rb") as wav:
            rate, channels, width = wav.getframerate(), wav.getnchannels(), wav.getsampwidth()
            frames = wav.readframes(wav.getnframes())
    except FileNotFoundError:
        raise AudioSourceError(f"audio.file: {path} does not exist") from None
    except (wave.Error, EOFError) as exc:
        raise AudioSourceError(f"audio.file: {path} is not a PCM WAV file ({exc})") from None
    except OSError as exc:
        raise AudioSourceError(f"audio.file: cannot read {path}: {exc.strerror}") from None
    if width != SAMPLE_WIDTH:
        raise AudioSourceError(
            f"audio.file: {path} has {width * 8}-bit samples; roomscribe reads 16-bit PCM "
            f"(convert with: sox {path} -b 16 out.wav)"
        )
    if rate == SAMPLE_RATE and channels == 1:
        return frames
    import numpy as np
    import soxr

    samples = np.frombuffer(frames, dtype="<i2").reshape(-1, channels).astype(np.float32)
    mono = samples.mean(axis=1)
    resampled = soxr.resample(mono, rate, SAMPLE_RATE) if rate != SAMPLE_RATE else mono
    log.info("audio.file: converted %s from %d Hz / %d channel(s) to 16 kHz mono", path, rate, channels)
    return np.clip(np.rint(resampled), -32768, 32767).astype("<i2").tobytes()


class WavFileSource:
    def __init__(self, path: Path, *, speed: float = 1.0, loop: bool = False):
        self._pcm = load_pcm(path)  # fail at construction: a bad file is a configuration error
        self._path = path
        self._speed = speed
        self._loop = loop
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def duration(self) -> float:
        return bytes_to_seconds(len(self._pcm))

    def start(self, on_chunk: ChunkSink, on_status: StatusSink) -> None:
        self._thread = threading.Thread(
            target=self._play, args=(on_chunk, on_status), name="wav-source", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)

    def _play(self, on_chunk: ChunkSink, on_status: StatusSink) -> None:
        on_status(SourceStatus("opened", str(self._path)))
        while not self._stop.is_set():
            self._play_once(on_chunk)
            if not self._loop:
                break
        if not self._stop.is_set():
            on_status(SourceStatus("ended", str(self._path)))

    def _play_once(self, on_chunk: ChunkSink) -> None:
        # Chunks are released when their last sample would have been captured; the capture time of
        # a chunk is the wall-clock time of its first sample on that (possibly sped-up) schedule.
        start_wall, start_mono = time.time(), time.monotonic()
        for begin in range(0, len(self._pcm), CHUNK_BYTES):
            pcm = self._pcm[begin : begin + CHUNK_BYTES]
            offset = bytes_to_seconds(begin) / self._speed
            release = start_mono + offset + bytes_to_seconds(len(pcm)) / self._speed
            if self._stop.wait(max(0.0, release - time.monotonic())):
                return
            on_chunk(AudioChunk(pcm, start_wall + offset))
