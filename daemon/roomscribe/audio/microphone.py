"""Microphone capture through PortAudio (PyAudio): small chunks, overflows counted, device loss retried."""

from __future__ import annotations

import logging
import threading
import time

from roomscribe.audio.format import CHUNK_BYTES, SAMPLE_RATE, SAMPLE_WIDTH, AudioChunk
from roomscribe.audio.source import AudioSourceError, ChunkSink, SourceStatus, StatusSink
from roomscribe.core.backoff import Backoff

log = logging.getLogger(__name__)

FRAMES_PER_CHUNK = CHUNK_BYTES // SAMPLE_WIDTH
# No callback for this long means the device is gone (unplugged, sound server died).
STALL_SECONDS = 2.0
# Capture times follow the sample count; re-anchor on the wall clock when they drift this far
# (after an overflow dropped samples, or a clock step).
REANCHOR_SECONDS = 0.2


def find_device(pa, wanted: str | int) -> int | None:
    """PortAudio index of the capture device: an index, 'default', or a case-insensitive name substring."""
    if isinstance(wanted, int) or (isinstance(wanted, str) and wanted.isdigit()):
        index = int(wanted)
        if 0 <= index < pa.get_device_count() and pa.get_device_info_by_index(index)["maxInputChannels"] > 0:
            return index
        raise AudioSourceError(f"audio.device: {index} is not a capture device index")
    if wanted == "default":
        try:
            return int(pa.get_default_input_device_info()["index"])
        except OSError:
            return None
    for index in range(pa.get_device_count()):
        info = pa.get_device_info_by_index(index)
        if info["maxInputChannels"] > 0 and wanted.lower() in str(info["name"]).lower():
            return index
    return None


def capture_devices(pa) -> list[dict]:
    devices = []
    for index in range(pa.get_device_count()):
        info = pa.get_device_info_by_index(index)
        if info["maxInputChannels"] > 0:
            devices.append(
                {
                    "index": index,
                    "name": info["name"],
                    "channels": int(info["maxInputChannels"]),
                    "default_rate": int(info["defaultSampleRate"]),
                }
            )
    return devices


class MicrophoneSource:
    def __init__(self, device: str | int = "default", *, backoff: Backoff | None = None):
        self._wanted = device
        self._backoff = backoff or Backoff(initial=1.0, cap=30.0)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.overflows = 0
        self._last_callback = 0.0
        self._anchor: float | None = None
        self._samples = 0

    def start(self, on_chunk: ChunkSink, on_status: StatusSink) -> None:
        self._thread = threading.Thread(
            target=self._supervise, args=(on_chunk, on_status), name="microphone", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=3)

    def _supervise(self, on_chunk: ChunkSink, on_status: StatusSink) -> None:
        """Open, watch, and reopen after loss, until stopped."""
        while not self._stop.is_set():
            try:
                self._capture_until_lost(on_chunk, on_status)
            except Exception as exc:
                on_status(SourceStatus("lost", str(exc)))
            if self._stop.is_set():
                return
            delay = self._backoff.next_delay()
            log.info("reopening the capture device in %.1f s", delay)
            self._stop.wait(delay)

    def _capture_until_lost(self, on_chunk: ChunkSink, on_status: StatusSink) -> None:
        import pyaudio

        pa = pyaudio.PyAudio()  # a fresh instance rescans the devices after a loss
        stream = None
        try:
            index = find_device(pa, self._wanted)
            if index is None:
                names = ", ".join(f"{d['index']}: {d['name']}" for d in capture_devices(pa)) or "none"
                raise AudioSourceError(f"no capture device matches {self._wanted!r} (available: {names})")
            name = pa.get_device_info_by_index(index)["name"]
            self._anchor, self._samples = None, 0
            self._last_callback = time.monotonic()
            stream = pa.open(
                format=pyaudio.paInt16,
                channels=1,
                rate=SAMPLE_RATE,
                input=True,
                input_device_index=index,
                frames_per_buffer=FRAMES_PER_CHUNK,
                stream_callback=self._callback(on_chunk),
            )
            on_status(SourceStatus("opened", f"{index}: {name}"))
            self._backoff.reset()
            while not self._stop.wait(0.25):
                stalled = time.monotonic() - self._last_callback > STALL_SECONDS
                if stalled or not stream.is_active():
                    on_status(SourceStatus("lost", f"capture device {name!r} stopped delivering audio"))
                    return
        finally:
            if stream is not None:
                try:
                    stream.stop_stream()
                    stream.close()
                except Exception as exc:
                    log.debug("closing the capture stream: %s", exc)
            pa.terminate()

    def _callback(self, on_chunk: ChunkSink):
        import pyaudio

        def callback(in_data, frame_count, time_info, status):
            try:
                now = time.time()
                self._last_callback = time.monotonic()
                if status & pyaudio.paInputOverflow:
                    self.overflows += 1
                expected = now - frame_count / SAMPLE_RATE
                at = None if self._anchor is None else self._anchor + self._samples / SAMPLE_RATE
                if at is None or abs(at - expected) > REANCHOR_SECONDS:
                    self._anchor, self._samples, at = expected, 0, expected
                self._samples += frame_count
                on_chunk(AudioChunk(bytes(in_data), at))
            except Exception:
                log.exception("capture callback failed", extra={"callback_guard": True})
            return (None, pyaudio.paContinue)

        return callback
