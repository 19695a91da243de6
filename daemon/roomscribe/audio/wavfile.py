"""A WAV file played as the meeting, at real-time pace (or `speed` times faster, for tests).

A file, unlike a microphone, delivers on demand: it holds its first chunk, offering it once per chunk
time, until the sink takes it live (the gate opened), and plays from there. So the first sample the
service receives is the file's first sample, however long the session took to start.
"""

from __future__ import annotations

import logging
import struct
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from roomscribe.core.audio_format import CHANNELS, CHUNK_BYTES, SAMPLE_RATE, SAMPLE_WIDTH, AudioChunk, bytes_to_seconds
from roomscribe.audio.source import AudioSourceError, ChunkSink, SourceStatus, StatusSink

log = logging.getLogger(__name__)

_PCM, _FLOAT, _EXTENSIBLE = 0x0001, 0x0003, 0xFFFE
_WANTED = "roomscribe reads 16-bit integer PCM"


@dataclass(frozen=True, slots=True)
class WavFormat:
    encoding: int  # WAVE format tag (an EXTENSIBLE file's sub-format)
    channels: int
    rate: int
    bits: int


def load_pcm(path: Path) -> bytes:
    """16 kHz mono 16-bit PCM from a WAV file; other rates and channel counts of 16-bit PCM are converted.

    Other sample formats (8-, 24-, 32-bit, float, compressed) are refused with an AudioSourceError that
    names the file, what it holds and the sox command that converts it.
    """
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise AudioSourceError(f"audio.file: {path} does not exist") from None
    except IsADirectoryError:
        raise AudioSourceError(f"audio.file: {path} is a directory, not a WAV file") from None
    except OSError as exc:
        raise AudioSourceError(f"audio.file: cannot read {path}: {exc.strerror}") from None
    fmt, frames = _parse_wav(path, data)
    convert = f"(convert with: sox {path} -r {SAMPLE_RATE} -c {CHANNELS} -b 16 -e signed-integer out.wav)"
    if fmt.encoding == _FLOAT:
        raise AudioSourceError(f"audio.file: {path} has {fmt.bits}-bit float samples; {_WANTED} {convert}")
    if fmt.encoding != _PCM:
        raise AudioSourceError(f"audio.file: {path} is not PCM (WAVE format 0x{fmt.encoding:04x}); {_WANTED} {convert}")
    if fmt.bits != SAMPLE_WIDTH * 8:
        raise AudioSourceError(f"audio.file: {path} has {fmt.bits}-bit samples; {_WANTED} {convert}")
    frame_bytes = SAMPLE_WIDTH * fmt.channels
    frames = frames[: len(frames) - len(frames) % frame_bytes]  # a torn last frame is dropped
    if not frames:
        raise AudioSourceError(f"audio.file: {path} holds no audio")
    if fmt.rate == SAMPLE_RATE and fmt.channels == CHANNELS:
        return frames
    return _to_mono_16k(path, frames, fmt)


def _parse_wav(path: Path, data: bytes) -> tuple[WavFormat, bytes]:
    """The format and the sample bytes of a RIFF/WAVE file (the `wave` module of Python 3.11 cannot
    read WAVE_FORMAT_EXTENSIBLE headers, which sox writes for 24-bit and multichannel files)."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise AudioSourceError(f"audio.file: {path} is not a WAV file (no RIFF/WAVE header)")
    fmt: WavFormat | None = None
    position = 12
    while position + 8 <= len(data):
        chunk_id, size = data[position : position + 4], struct.unpack_from("<I", data, position + 4)[0]
        body = data[position + 8 : position + 8 + size]  # a streamed file may give a size past its end
        if chunk_id == b"fmt ":
            fmt = _parse_fmt(path, body)
        elif chunk_id == b"data":
            if fmt is None:
                raise AudioSourceError(f"audio.file: {path} is not a valid WAV file (data before fmt)")
            return fmt, body
        position += 8 + size + (size & 1)  # chunks are padded to an even length
    raise AudioSourceError(f"audio.file: {path} is not a valid WAV file (no {'data' if fmt else 'fmt'} chunk)")


def _parse_fmt(path: Path, body: bytes) -> WavFormat:
    if len(body) < 16:
        raise AudioSourceError(f"audio.file: {path} is not a valid WAV file (short fmt chunk)")
    encoding, channels, rate, _byte_rate, _block_align, bits = struct.unpack_from("<HHIIHH", body)
    if encoding == _EXTENSIBLE and len(body) >= 26:
        encoding = struct.unpack_from("<H", body, 24)[0]  # first two bytes of the sub-format GUID
    if channels == 0 or rate == 0:
        raise AudioSourceError(f"audio.file: {path} is not a valid WAV file ({channels} channels at {rate} Hz)")
    return WavFormat(encoding, channels, rate, bits)


def _to_mono_16k(path: Path, frames: bytes, fmt: WavFormat) -> bytes:
    try:
        import numpy as np
        import soxr
    except ImportError:
        raise AudioSourceError(
            f"audio.file: {path} is {fmt.rate} Hz, {fmt.channels} channel(s); converting it needs the wavfile extra "
            f"(pip install 'roomscribe[wavfile]'), or convert it first: "
            f"sox {path} -r {SAMPLE_RATE} -c {CHANNELS} -b 16 -e signed-integer out.wav"
        ) from None

    samples = np.frombuffer(frames, dtype="<i2").reshape(-1, fmt.channels).astype(np.float32)
    mono = samples.mean(axis=1)
    resampled = soxr.resample(mono, fmt.rate, SAMPLE_RATE) if fmt.rate != SAMPLE_RATE else mono
    log.info("audio.file: converted %s from %d Hz, %d channel(s) to 16 kHz mono", path, fmt.rate, fmt.channels)
    return np.clip(np.rint(resampled), -32768, 32767).astype("<i2").tobytes()


class WavFileSource:
    def __init__(self, path: Path, *, speed: float = 1.0, loop: bool = False):
        if not speed > 0:
            raise AudioSourceError(f"audio.speed must be positive (got {speed})")
        self._pcm = load_pcm(path)  # fail at construction: a bad file is a configuration error
        self._path = path
        self._speed = speed
        self._loop = loop
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.started_at: float | None = None  # wall clock of the first sample of the latest pass

    @property
    def duration(self) -> float:
        """Seconds of audio in one pass of the file (at speed 1)."""
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
        _report(on_status, SourceStatus("opened", str(self._path)))
        _report(on_status, SourceStatus("flowing", str(self._path)))  # on demand: ready to deliver at once
        anchor = self._first_taken(on_chunk)
        if anchor is None:
            return
        # One schedule for all passes, so a looped file neither drifts nor leaves gaps in capture times.
        start_wall, start_mono = anchor
        pass_seconds = self.duration / self._speed
        passes = 0
        while not self._stop.is_set():
            offset = passes * pass_seconds
            self.started_at = start_wall + offset
            skip = CHUNK_BYTES if passes == 0 else 0  # the first chunk went out while waiting
            if not self._play_once(on_chunk, start_wall + offset, start_mono + offset, skip):
                return
            passes += 1
            if not self._loop:
                break
        _report(on_status, SourceStatus("ended", str(self._path)))

    def _first_taken(self, on_chunk: ChunkSink) -> tuple[float, float] | None:
        """Offer the first chunk once per chunk time until the sink takes it live.

        Returns the (wall, monotonic) time of the file's first sample on the playing schedule, or None
        if stopped first.
        """
        first = self._pcm[:CHUNK_BYTES]
        step = bytes_to_seconds(len(first)) / self._speed
        next_offer = time.monotonic() + step
        while True:
            time.sleep(max(0.0, next_offer - time.monotonic()))
            if self._stop.is_set():
                return None
            mono, wall = time.monotonic(), time.time()
            try:
                taken = on_chunk(AudioChunk(first, wall - step)) is not False
            except Exception:
                log.exception("audio chunk sink failed", extra={"callback_guard": True})
                taken = True
            if taken:
                self.started_at = wall - step
                return wall - step, mono - step
            next_offer = mono + step

    def _play_once(self, on_chunk: ChunkSink, start_wall: float, start_mono: float, skip: int = 0) -> bool:
        """One pass from byte `skip`; False if stopped on the way.

        Chunks are released when their last sample would have been captured; the capture time of a
        chunk is the wall-clock time of its first sample on that (possibly sped-up) schedule.
        """
        for begin in range(skip, len(self._pcm), CHUNK_BYTES):
            pcm = self._pcm[begin : begin + CHUNK_BYTES]
            offset = bytes_to_seconds(begin) / self._speed
            release = start_mono + offset + bytes_to_seconds(len(pcm)) / self._speed
            # A plain sleep, then the flag: Event.wait costs several times more CPU per chunk, and
            # a stop still takes effect within one chunk.
            time.sleep(max(0.0, release - time.monotonic()))
            if self._stop.is_set():
                return False
            try:
                on_chunk(AudioChunk(pcm, start_wall + offset))
            except Exception:
                log.exception("audio chunk sink failed", extra={"callback_guard": True})
        return True


def _report(on_status: StatusSink, status: SourceStatus) -> None:
    try:
        on_status(status)
    except Exception:
        log.exception("audio status sink failed", extra={"callback_guard": True})
