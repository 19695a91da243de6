"""A WAV file played as the meeting, at real-time pace (or `speed` times faster, for tests).

A file, unlike a microphone, delivers on demand: it holds its first chunk, offering it once per chunk
time, until the sink takes it live (the gate opened), and plays from there. So the first sample the
service receives is the file's first sample, however long the session took to start. Each meeting
plays it again from the start (`meeting_started`): read again if it changed, reported `lost` if it
is gone. Its schedule runs on the monotonic clock; chunks carry both times, so the wall-clock times
follow a step of the wall clock (core/clock.py).
"""

from __future__ import annotations

import logging
import os
import struct
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from roomscribe.core.audio_format import (BYTES_PER_SECOND, CHANNELS, CHUNK_BYTES, SAMPLE_RATE, SAMPLE_WIDTH, AudioChunk,
                                          bytes_to_seconds)
from roomscribe.audio.source import AudioSourceError, ChunkSink, SourceStatus, StatusSink
from roomscribe.core.backoff import Backoff
from roomscribe.core.clock import STEP_THRESHOLD_S, SYSTEM_CLOCK, Clock, read_offset

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
        with open(path, "rb") as file:
            fmt, frames = _read_wav(path, file)
    except FileNotFoundError:
        raise AudioSourceError(f"audio.file: {path} does not exist") from None
    except IsADirectoryError:
        raise AudioSourceError(f"audio.file: {path} is a directory, not a WAV file") from None
    except OSError as exc:
        raise AudioSourceError(f"audio.file: cannot read {path}: {exc.strerror}") from None
    if not frames:
        raise AudioSourceError(f"audio.file: {path} holds no audio")
    if fmt.rate == SAMPLE_RATE and fmt.channels == CHANNELS:
        return frames
    return _to_mono_16k(path, frames, fmt)


def _read_wav(path: Path, file: BinaryIO) -> tuple[WavFormat, bytes]:
    """The format and the whole sample frames of a RIFF/WAVE file, the samples read in one piece.

    Only the data chunk is read into memory, once: reading the whole file and then slicing its samples
    out held the audio twice while the file was loaded (a file source's peak memory, docs/BENCHMARKS.md).
    The `wave` module of Python 3.11 cannot read WAVE_FORMAT_EXTENSIBLE headers, which sox writes for
    24-bit and multichannel files.
    """
    size_of_file = os.fstat(file.fileno()).st_size
    header = file.read(12)
    if len(header) < 12 or header[:4] != b"RIFF" or header[8:12] != b"WAVE":
        raise AudioSourceError(f"audio.file: {path} is not a WAV file (no RIFF/WAVE header)")
    fmt: WavFormat | None = None
    position = 12
    while position + 8 <= size_of_file:
        file.seek(position)
        chunk_header = file.read(8)
        chunk_id, size = chunk_header[:4], struct.unpack_from("<I", chunk_header, 4)[0]
        if chunk_id == b"fmt ":
            fmt = _parse_fmt(path, file.read(size))
        elif chunk_id == b"data":
            if fmt is None:
                raise AudioSourceError(f"audio.file: {path} is not a valid WAV file (data before fmt)")
            _check_sample_format(path, fmt)
            available = min(size, size_of_file - position - 8)  # a streamed file may give a size past its end
            frame_bytes = SAMPLE_WIDTH * fmt.channels
            return fmt, file.read(available - available % frame_bytes)  # a torn last frame is dropped
        position += 8 + size + (size & 1)  # chunks are padded to an even length
    raise AudioSourceError(f"audio.file: {path} is not a valid WAV file (no {'data' if fmt else 'fmt'} chunk)")


def _check_sample_format(path: Path, fmt: WavFormat) -> None:
    convert = f"(convert with: sox {path} -r {SAMPLE_RATE} -c {CHANNELS} -b 16 -e signed-integer out.wav)"
    if fmt.encoding == _FLOAT:
        raise AudioSourceError(f"audio.file: {path} has {fmt.bits}-bit float samples; {_WANTED} {convert}")
    if fmt.encoding != _PCM:
        raise AudioSourceError(f"audio.file: {path} is not PCM (WAVE format 0x{fmt.encoding:04x}); {_WANTED} {convert}")
    if fmt.bits != SAMPLE_WIDTH * 8:
        raise AudioSourceError(f"audio.file: {path} has {fmt.bits}-bit samples; {_WANTED} {convert}")


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
    pcm: bytes = np.clip(np.rint(resampled), -32768, 32767).astype("<i2").tobytes()
    return pcm


class WavFileSource:
    """Plays `path` once per meeting (or in a loop), on demand; reopened at each meeting's start.

    Like a microphone, a file that is gone or no longer readable when a meeting starts is reported
    `lost` with the reason and tried again (with backoff) until it can be played.
    """

    def __init__(self, path: Path, *, speed: float = 1.0, loop: bool = False, clock: Clock = SYSTEM_CLOCK,
                 backoff: Backoff | None = None):
        if not speed > 0:
            raise AudioSourceError(f"audio.speed must be positive (got {speed})")
        self._pcm = load_pcm(path)  # fail at construction: a bad file is a configuration error
        self._identity = _identity(path)
        self._path = path
        self._speed = speed
        self._loop = loop
        self._clock = clock
        self._offset = read_offset(clock)
        self._backoff = backoff or Backoff(initial=1.0, cap=30.0)
        self._stop = threading.Event()
        self._reopen = threading.Event()
        self._reported: str | None = None
        self._thread: threading.Thread | None = None
        self.started_at: float | None = None  # wall clock of the first sample of the latest pass
        self._played_bytes = 0  # of the current pass, handed to the sink (written by the file's thread only)
        self.overflows = 0  # a file is read on demand: nothing is ever dropped for a slow consumer

    @property
    def played_s(self) -> float:
        """Seconds of the file (at speed 1) handed on in the current pass: what has really been "captured".

        A controller that must act at a point of the recording (the demo pauses before a sentence and
        resumes after it) waits for this, not for the clock: a starved thread delivers late, in a burst.
        """
        return bytes_to_seconds(self._played_bytes)

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

    def meeting_started(self) -> None:
        """A meeting starts: play the file again from its first sample, read again if it changed."""
        self._reopen.set()

    def _play(self, on_chunk: ChunkSink, on_status: StatusSink) -> None:
        opened_once = False
        while not self._stop.is_set():
            if opened_once and not self._load(on_status):
                continue
            opened_once = True
            self._reopen.clear()
            _report(on_status, SourceStatus("opened", str(self._path)))
            _report(on_status, SourceStatus("flowing", str(self._path)))  # on demand: ready to deliver at once
            anchor = self._first_taken(on_chunk)
            if anchor is None:
                continue  # stopped, or a meeting started and the file changed: read it again
            if self._play_passes(on_chunk, anchor):
                _report(on_status, SourceStatus("ended", str(self._path)))
                while not (self._stop.is_set() or self._reopen.wait(0.1)):
                    pass  # until the next meeting starts

    def _load(self, on_status: StatusSink) -> bool:
        """Read the file again if it changed; False (reported `lost`, after a wait) if it cannot be played."""
        try:
            identity = _identity(self._path)
            if identity is None or identity != self._identity:
                self._pcm, self._identity = load_pcm(self._path), identity
                log.info("audio.file: %s was read again (%.1f s of audio)", self._path, self.duration)
            self._backoff.reset()
            self._reported = None
            return True
        except AudioSourceError as exc:
            problem = str(exc)
        except Exception as exc:  # noqa: BLE001  (e.g. a file that became 44.1 kHz without numpy/soxr)
            problem = f"audio.file: {self._path} cannot be read: {exc}"
        if problem != self._reported:  # like a device: a loss that repeats is reported once
            self._reported = problem
            _report(on_status, SourceStatus("lost", problem))
        self._identity = None  # read it again once it is back
        delay = self._backoff.next_delay()
        log.info("%s; trying again in %.1f s", problem, delay)
        self._stop.wait(delay)
        return False

    def _wall(self, monotonic: float) -> float:
        """The wall-clock time of a monotonic instant; follows a step of the wall clock (core/clock.py).

        Called for every chunk, so one pair of clock reads tells whether the offset may have moved; only
        then is it read again with care (`read_offset`, the tightest of up to three reads) and compared.
        """
        if abs(self._clock.wall() - self._clock.monotonic() - self._offset) > STEP_THRESHOLD_S:
            offset = read_offset(self._clock)
            if abs(offset - self._offset) > STEP_THRESHOLD_S:
                self._offset = offset  # below that, the schedule's times stay exactly CHUNK apart
        return monotonic + self._offset

    def _first_taken(self, on_chunk: ChunkSink) -> float | None:
        """Offer the first chunk once per chunk time until the sink takes it live.

        Returns the monotonic time of the file's first sample on the playing schedule, or None if
        stopped first or if a meeting started and the file changed since it was read.
        """
        first = self._pcm[:CHUNK_BYTES]
        step = bytes_to_seconds(len(first)) / self._speed
        next_offer = self._clock.monotonic() + step
        while True:
            time.sleep(max(0.0, next_offer - self._clock.monotonic()))
            if self._stop.is_set():
                return None
            if self._reopen.is_set():  # a meeting starts before this one was played: play it as it is now
                self._reopen.clear()
                if _identity(self._path) != self._identity:
                    return None
            at = self._clock.monotonic() - step
            try:
                taken = on_chunk(AudioChunk(first, self._wall(at), at)) is not False
            except Exception:
                log.exception("audio chunk sink failed", extra={"callback_guard": True})
                taken = True
            if taken:
                self.started_at = self._wall(at)
                self._played_bytes = len(first)
                return at
            next_offer = at + 2 * step

    def _play_passes(self, on_chunk: ChunkSink, start: float) -> bool:
        """Play from the first taken chunk: once, or until stopped when looped. True if the file ended."""
        pass_seconds = self.duration / self._speed
        passes = 0  # one schedule for all passes: a looped file neither drifts nor leaves gaps in times
        while True:
            offset = passes * pass_seconds
            self.started_at = self._wall(start + offset)
            skip = CHUNK_BYTES if passes == 0 else 0  # the first chunk went out while waiting
            if not self._play_once(on_chunk, start + offset, skip):
                return False
            passes += 1
            if not self._loop:
                return True

    def _play_once(self, on_chunk: ChunkSink, start: float, skip: int = 0) -> bool:
        """One pass from byte `skip`; False if stopped, or a meeting started, on the way.

        Chunks are released when their last sample would have been captured; the capture time of a
        chunk is the time of its first sample on that (possibly sped-up) schedule.
        """
        pcm, speed, sleep, monotonic = self._pcm, self._speed, time.sleep, self._clock.monotonic
        stopped, reopened = self._stop.is_set, self._reopen.is_set
        for begin in range(skip, len(pcm), CHUNK_BYTES):
            chunk = pcm[begin : begin + CHUNK_BYTES]
            at = start + begin / BYTES_PER_SECOND / speed
            release = at + len(chunk) / BYTES_PER_SECOND / speed
            # A plain sleep, then the flags: Event.wait costs several times more CPU per chunk, and
            # a stop still takes effect within one chunk. The names are bound once, above: this loop
            # runs 100 times a second, and each lookup it saves is paid on a cold cache after a sleep.
            sleep(max(0.0, release - monotonic()))
            if stopped() or reopened():
                return False
            try:
                on_chunk(AudioChunk(chunk, self._wall(at), at))
            except Exception:
                log.exception("audio chunk sink failed", extra={"callback_guard": True})
            self._played_bytes = begin + len(chunk)
        return True


def _identity(path: Path) -> tuple[int, int, int] | None:
    """What tells that a file changed: inode, size, modification time; None if it is gone."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_ino, st.st_size, st.st_mtime_ns


def _report(on_status: StatusSink, status: SourceStatus) -> None:
    try:
        on_status(status)
    except Exception:
        log.exception("audio status sink failed", extra={"callback_guard": True})
