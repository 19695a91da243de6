"""Microphone capture through PortAudio (PyAudio): small chunks, overflows counted, device loss retried."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Callable, TypedDict

from roomscribe.core.audio_format import CHUNK_BYTES, SAMPLE_RATE, SAMPLE_WIDTH, AudioChunk
from roomscribe.audio.source import AudioSourceError, ChunkSink, SourceStatus, StatusSink
from roomscribe.core.backoff import Backoff

if TYPE_CHECKING:
    import pyaudio  # imported where it is used: PyAudio is needed only with a microphone

log = logging.getLogger(__name__)

# PortAudio's stream callback: (input, frame count, time info, status flags) -> (output, continue or stop).
StreamCallback = Callable[[bytes | None, int, Mapping[str, float], int], tuple[bytes | None, int]]

FRAMES_PER_CHUNK = CHUNK_BYTES // SAMPLE_WIDTH
# A device may take a while to deliver its first audio (a PulseAudio null sink's monitor takes 2 s);
# after that, no callback for STALL_SECONDS means the device is gone (unplugged, sound server hung).
FIRST_AUDIO_SECONDS = 8.0
STALL_SECONDS = 2.0
WATCH_INTERVAL = 0.1
# Overflows are reported as a status at most this often (each is also counted in `overflows`).
OVERFLOW_REPORT_SECONDS = 10.0


class CaptureDevice(TypedDict):
    index: int
    name: str
    channels: int
    default_rate: int


def capture_devices(pa: pyaudio.PyAudio) -> list[CaptureDevice]:
    """Every device PortAudio can capture from: index, name, channels, default rate."""
    devices: list[CaptureDevice] = []
    for index in range(pa.get_device_count()):
        info = pa.get_device_info_by_index(index)
        if int(info["maxInputChannels"]) > 0:
            devices.append(CaptureDevice(index=index, name=str(info["name"]), channels=int(info["maxInputChannels"]),
                                         default_rate=int(info["defaultSampleRate"])))
    return devices


def find_device(pa: pyaudio.PyAudio, wanted: str | int) -> int:
    """PortAudio index of the capture device: an index, 'default', or a case-insensitive name substring.

    An exact name wins over a substring match. AudioSourceError names what was wanted and lists what
    there is, so a wrong `audio.device` can be fixed from the log alone.
    """
    devices = capture_devices(pa)
    if isinstance(wanted, int) or wanted.strip().isdigit():
        index = int(wanted)
        if any(d["index"] == index for d in devices):
            return index
        raise AudioSourceError(f"audio.device: {index} is not a capture device index{_available(devices)}")
    if wanted == "default":
        try:
            return int(pa.get_default_input_device_info()["index"])
        except OSError:
            raise AudioSourceError(f"audio.device: there is no default capture device{_available(devices)}") from None
    key = wanted.strip().lower()
    exact = [d["index"] for d in devices if str(d["name"]).lower() == key]
    partial = [d["index"] for d in devices if key in str(d["name"]).lower()]
    if exact or partial:
        return (exact or partial)[0]
    raise AudioSourceError(f"audio.device: no capture device matches {wanted!r}{_available(devices)}")


def _available(devices: list[CaptureDevice]) -> str:
    listed = ", ".join(f"{d['index']}: {d['name']}" for d in devices)
    return f" (available: {listed})" if listed else " (no capture devices available)"


class CaptureClock:
    """The capture time of each callback's first sample, from the sample count and delivery times.

    A callback can run late (scheduling, a burst after a busy moment) but never before its samples
    exist, so every delivery bounds from above when the stream started: now - samples so far / rate.
    The lowest bound seen is the estimate, so no chunk is ever stamped later than it was delivered,
    and the times never go back (a correction can make a chunk overlap the one before, by at most the
    time by which that one was stamped late). The estimate moves later only when samples went missing:
    after an overflow, or when deliveries stay late for LAG_WINDOW (a device that paused without saying
    so). A burst of late deliveries catches up within that window and changes nothing.
    """

    LAG_LIMIT = 0.2  # seconds late that count as missing samples, if it lasts
    LAG_WINDOW = 1.0

    def __init__(self, rate: int = SAMPLE_RATE):
        self._rate = rate
        self._start: float | None = None  # monotonic time of sample 0 since the last re-anchoring
        self._samples = 0
        self._lag_since: float | None = None
        self._least_lag = 0.0

    def stamp(self, now: float, frames: int, *, dropped: bool = False) -> float:
        """Monotonic capture time of the first of `frames` samples delivered at `now`."""
        bound = now - (self._samples + frames) / self._rate
        if self._start is None or dropped:
            self._start, self._samples, self._lag_since = now - frames / self._rate, 0, None
        elif bound < self._start:
            self._start, self._lag_since = bound, None
        elif bound - self._start > self.LAG_LIMIT:
            lag = bound - self._start
            if self._lag_since is None:
                self._lag_since, self._least_lag = now, lag
            self._least_lag = min(self._least_lag, lag)
            if now - self._lag_since >= self.LAG_WINDOW:
                self._start += self._least_lag
                self._lag_since = None
        else:
            self._lag_since = None
        at = self._start + self._samples / self._rate
        self._samples += frames
        return at


class MicrophoneSource:
    """Captures `device` until stopped; a lost or missing device is reported and retried with backoff."""

    def __init__(self, device: str | int = "default", *, backoff: Backoff | None = None):
        self._wanted = device
        self._backoff = backoff or Backoff(initial=1.0, cap=30.0)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.overflows = 0  # written by the PortAudio callback only
        self._last_callback: float | None = None

    def start(self, on_chunk: ChunkSink, on_status: StatusSink) -> None:
        self._thread = threading.Thread(
            target=self._supervise, args=(on_chunk, on_status), name="microphone", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def meeting_started(self) -> None:
        """Nothing: a microphone captures all the time (the stream stays open across meetings)."""

    def _supervise(self, on_chunk: ChunkSink, on_status: StatusSink) -> None:
        """Open, watch, and reopen after loss, until stopped.

        A loss is reported once; retries that fail the same way only log, so a long outage does not
        flood the owner (and MQTT) with identical reports every backoff step.
        """
        reported: str | None = None

        def report(status: SourceStatus) -> None:
            nonlocal reported
            reported = status.detail if status.kind == "lost" else None
            try:
                on_status(status)
            except Exception:
                log.exception("audio status sink failed", extra={"callback_guard": True})

        while not self._stop.is_set():
            try:
                problem = self._capture_until_lost(on_chunk, report)
            except AudioSourceError as exc:
                problem = str(exc)
            except Exception as exc:  # PortAudio raises OSError for devices that vanish mid-open
                problem = f"audio.device {self._wanted!r}: cannot capture: {exc}"
            if problem is None or self._stop.is_set():
                return
            if problem != reported:
                report(SourceStatus("lost", problem))
            delay = self._backoff.next_delay()
            log.info("%s; trying again in %.1f s", problem, delay)
            self._stop.wait(delay)

    def _capture_until_lost(self, on_chunk: ChunkSink, report: StatusSink) -> str | None:
        """Capture until the device fails (returns why) or the source is stopped (returns None)."""
        import pyaudio

        pa = pyaudio.PyAudio()  # a fresh instance rescans the devices after a loss
        stream = None
        try:
            index = find_device(pa, self._wanted)
            name = pa.get_device_info_by_index(index)["name"]
            self._last_callback = None
            opened_at = time.monotonic()
            stream = pa.open(
                format=pyaudio.paInt16,
                channels=1,
                rate=SAMPLE_RATE,
                input=True,
                input_device_index=index,
                frames_per_buffer=FRAMES_PER_CHUNK,
                stream_callback=self._callback(on_chunk, report, f"capture device {index}: {name!r}"),
            )
            report(SourceStatus("opened", f"{index}: {name}"))
            self._backoff.reset()
            overflows_reported, overflow_report_at = self.overflows, float("-inf")
            while not self._stop.wait(WATCH_INTERVAL):
                now, last = time.monotonic(), self._last_callback
                if not stream.is_active():
                    return f"capture device {index}: {name!r} stopped (the stream ended)"
                if last is None and now - opened_at > FIRST_AUDIO_SECONDS:
                    return f"capture device {index}: {name!r} delivered no audio in {FIRST_AUDIO_SECONDS:.0f} s"
                if last is not None and now - last > STALL_SECONDS:
                    return f"capture device {index}: {name!r} stopped delivering audio ({STALL_SECONDS:.0f} s silent)"
                overflows = self.overflows
                if overflows > overflows_reported and now - overflow_report_at >= OVERFLOW_REPORT_SECONDS:
                    report(SourceStatus("overflow", f"{overflows} input overflow(s): samples were dropped"))
                    overflows_reported, overflow_report_at = overflows, now
            return None
        finally:
            if stream is not None:
                try:
                    if self._stop.is_set():
                        stream.stop_stream()
                    # A lost device is closed without stopping: PortAudio then aborts the stream, cancelling
                    # its thread. A stop waits for that thread, which on a dead sound server can spin on
                    # errors (pa_linux_alsa.c, printed to stderr) and never return.
                    stream.close()
                except Exception as exc:
                    log.debug("closing the capture stream: %s", exc)
            pa.terminate()

    def _callback(self, on_chunk: ChunkSink, report: StatusSink, device: str) -> StreamCallback:
        import pyaudio

        clock = CaptureClock(SAMPLE_RATE)  # one per stream: a reopened device starts a new count

        def callback(in_data: bytes | None, frame_count: int, time_info: Mapping[str, float],
                     status: int) -> tuple[bytes | None, int]:
            try:
                now = time.monotonic()
                if self._last_callback is None:
                    # The first delivery: only now is the device really capturing (a PulseAudio
                    # source takes seconds to start), so only now may the owner say `transcribing`.
                    report(SourceStatus("flowing", device))
                self._last_callback = now
                dropped = bool(status & pyaudio.paInputOverflow)
                if dropped:
                    self.overflows += 1
                at = clock.stamp(now, frame_count, dropped=dropped)
                # Kept on the monotonic clock too: the timeline gives it the wall clock's time when it is
                # published, so a step of the wall clock in between is followed (core/clock.py).
                on_chunk(AudioChunk(bytes(in_data or b""), at + (time.time() - now), at))
            except Exception:
                log.exception("capture callback failed", extra={"callback_guard": True})
            return (None, pyaudio.paContinue)

        return callback
