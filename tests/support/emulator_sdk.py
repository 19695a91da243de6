"""Drive the real Speech SDK against the emulator: a ConversationTranscriber reading a PushAudioInputStream.

    with EmulatorThread(key="k") as emu, SdkTranscriber(emu.host_url, key="k") as sdk:
        sdk.start()
        sdk.push(pcm)                      # as fast as the SDK takes it; speed=1.0 for real time
        sdk.wait_for(lambda s: len(s.transcribed()) >= 2)
        sdk.stop()

SDK callbacks run on SDK threads; each one only appends a frozen SdkEvent under a lock (guarded: an
exception is logged with callback_guard, which fails the test through tests/conftest.py).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

import azure.cognitiveservices.speech as speechsdk
import pytest

log = logging.getLogger(__name__)

CHUNK_BYTES = 3200  # 100 ms of 16 kHz 16-bit mono, the size the protocol notes were taken with
BYTES_PER_SECOND = 32000
# Native SDK properties (names found in its library) that lift its pacing of audio sent: without them a
# push stream is read at about 2x real time after a first burst. With them the SDK sends what it is given.
UNTHROTTLED = {
    "SPEECH-TransmitLengthBeforeThrottleMs": "100000000",
    "SPEECH-AudioThrottleAsPercentageOfRealTime": "10000",
}


@dataclass(frozen=True)
class SdkEvent:
    kind: str  # transcribing, transcribed, canceled, session_started, session_stopped, speech_start,
    # speech_end, connected, disconnected
    at: float  # time.monotonic() when the callback ran
    text: str = ""
    speaker: str = ""
    offset: int = 0  # ticks
    duration: int = 0  # ticks
    reason: str = ""  # ResultReason or CancellationReason name
    code: str = ""  # CancellationErrorCode name
    details: str = ""
    session_id: str = ""


class SdkTranscriber:
    def __init__(
        self,
        host_url: str,
        key: str = "test-key",
        *,
        language: str = "en-US",
        segmentation_silence_ms: int | None = None,
        diarize_intermediates: bool = False,
        sample_rate: int = 16000,
        properties: dict[str, str] | None = None,
        unthrottled: bool = True,
        log_file: str | None = None,
    ):
        config = speechsdk.SpeechConfig(host=host_url, subscription=key)
        config.speech_recognition_language = language
        if segmentation_silence_ms is not None:
            config.set_property(speechsdk.PropertyId.Speech_SegmentationSilenceTimeoutMs, str(segmentation_silence_ms))
        if diarize_intermediates:
            config.set_property(speechsdk.PropertyId.SpeechServiceResponse_DiarizeIntermediateResults, "true")
        for name, value in {**(UNTHROTTLED if unthrottled else {}), **(properties or {})}.items():
            config.set_property_by_name(name, value)
        if log_file is not None:
            config.set_property(speechsdk.PropertyId.Speech_LogFilename, log_file)
        stream_format = speechsdk.audio.AudioStreamFormat(
            samples_per_second=sample_rate, bits_per_sample=16, channels=1
        )
        self.stream = speechsdk.audio.PushAudioInputStream(stream_format)
        self.transcriber = speechsdk.transcription.ConversationTranscriber(
            speech_config=config, audio_config=speechsdk.audio.AudioConfig(stream=self.stream)
        )
        self.connection = speechsdk.Connection.from_recognizer(self.transcriber)
        self._events: list[SdkEvent] = []
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self.written = bytearray()
        self._stream_closed = False
        self._running = False
        self._connect()

    # -- callbacks (SDK threads) ----------------------------------------------------------------------

    def _connect(self) -> None:
        t = self.transcriber
        t.transcribing.connect(self._guard(self._on_result, "transcribing"))
        t.transcribed.connect(self._guard(self._on_result, "transcribed"))
        t.canceled.connect(self._guard(self._on_canceled, "canceled"))
        t.session_started.connect(self._guard(self._on_session, "session_started"))
        t.session_stopped.connect(self._guard(self._on_session, "session_stopped"))
        t.speech_start_detected.connect(self._guard(self._on_recognition, "speech_start"))
        t.speech_end_detected.connect(self._guard(self._on_recognition, "speech_end"))
        self.connection.connected.connect(self._guard(self._on_session, "connected"))
        self.connection.disconnected.connect(self._guard(self._on_session, "disconnected"))

    def _guard(self, handler: Callable[[str, Any], SdkEvent], kind: str) -> Callable[[Any], None]:
        def callback(evt: Any) -> None:
            try:
                self._add(handler(kind, evt))
            except Exception:
                log.exception("SDK %s callback failed", kind, extra={"callback_guard": True})

        return callback

    def _add(self, event: SdkEvent) -> None:
        with self._changed:
            self._events.append(event)
            self._changed.notify_all()

    @staticmethod
    def _on_result(kind: str, evt: Any) -> SdkEvent:
        r = evt.result
        return SdkEvent(kind, time.monotonic(), text=r.text, speaker=r.speaker_id or "", offset=r.offset,
                        duration=r.duration, reason=r.reason.name, session_id=evt.session_id)

    @staticmethod
    def _on_canceled(kind: str, evt: Any) -> SdkEvent:
        d = evt.cancellation_details
        return SdkEvent(kind, time.monotonic(), reason=d.reason.name, code=d.code.name, details=d.error_details or "",
                        session_id=evt.session_id)

    @staticmethod
    def _on_session(kind: str, evt: Any) -> SdkEvent:
        return SdkEvent(kind, time.monotonic(), session_id=getattr(evt, "session_id", ""))

    @staticmethod
    def _on_recognition(kind: str, evt: Any) -> SdkEvent:
        return SdkEvent(kind, time.monotonic(), offset=evt.offset, session_id=evt.session_id)

    # -- reading events (test thread) -----------------------------------------------------------------

    def events(self, kind: str | None = None) -> list[SdkEvent]:
        with self._lock:
            return [e for e in self._events if kind is None or e.kind == kind]

    def transcribed(self) -> list[SdkEvent]:
        """Recognized phrases (NoMatch results left out)."""
        return [e for e in self.events("transcribed") if e.reason == "RecognizedSpeech"]

    def transcribing(self) -> list[SdkEvent]:
        return self.events("transcribing")

    def canceled(self) -> list[SdkEvent]:
        return self.events("canceled")

    def wait_for(
        self, predicate: Callable[[SdkTranscriber], Any], timeout: float = 30.0, what: str = "condition"
    ) -> Any:
        """Wait until predicate(self) is truthy and return its value; AssertionError naming what on timeout."""
        deadline = time.monotonic() + timeout
        while True:
            value = predicate(self)
            if value:
                return value
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                kinds = [e.kind for e in self.events()][-20:]
                raise AssertionError(f"SDK: timed out after {timeout} s waiting for {what}; last events {kinds}")
            with self._changed:  # a missed notification costs at most 0.1 s
                self._changed.wait(min(remaining, 0.1))

    # -- driving (test thread) ------------------------------------------------------------------------

    @property
    def session_id(self) -> str:
        """The SDK's session id (also its X-ConnectionId and audioSessionId), known once a session started."""
        started = self.events("session_started")
        return started[0].session_id if started else ""

    def start(self) -> None:
        self.transcriber.start_transcribing_async().get()
        self._running = True

    def write(self, pcm: bytes) -> None:
        self.stream.write(pcm)
        self.written.extend(pcm)

    def push(
        self,
        pcm: bytes,
        *,
        speed: float | None = None,
        chunk_bytes: int = CHUNK_BYTES,
        acknowledged: Callable[[], int] | None = None,
        max_unacknowledged_seconds: float = 40.0,
    ) -> None:
        """Write pcm in chunks: at once (speed None) or at speed x real time.

        The SDK gives up once more than 66 s of written audio is unacknowledged, however fast the
        service is; pass acknowledged (e.g. emu.record.acknowledged_bytes) to hold writes back so that
        no more than max_unacknowledged_seconds run ahead of the service's acknowledgements.
        """
        started = time.monotonic()
        limit = max_unacknowledged_seconds * BYTES_PER_SECOND
        for position in range(0, len(pcm), chunk_bytes):
            if speed is not None:
                delay = started + position / BYTES_PER_SECOND / speed - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            if acknowledged is not None:
                deadline = time.monotonic() + 60
                while len(self.written) + chunk_bytes - acknowledged() > limit:
                    if time.monotonic() > deadline:
                        raise AssertionError("the service acknowledged nothing for 60 s")
                    time.sleep(0.002)
            self.write(pcm[position : position + chunk_bytes])

    def push_in_background(self, pcm: bytes, **options: Any) -> threading.Thread:
        """push() on a thread of its own (join it before closing); for faults injected while audio flows."""
        thread = threading.Thread(target=self.push, args=(pcm,), kwargs=options, name="sdk-push", daemon=True)
        thread.start()
        return thread

    def close_stream(self) -> None:
        if not self._stream_closed:
            self._stream_closed = True
            self.stream.close()

    def stop(self) -> float:
        """stop_transcribing_async; returns the seconds it took."""
        started = time.monotonic()
        self.transcriber.stop_transcribing_async().get()
        self._running = False
        return time.monotonic() - started

    def close(self) -> None:
        if self._running:
            try:
                self.stop()
            except Exception:
                log.exception("stopping the transcriber failed")
        self.close_stream()
        # Disconnect the callbacks before the objects go, so no late event touches a finished test.
        for signal in (self.transcriber.transcribing, self.transcriber.transcribed, self.transcriber.canceled,
                       self.transcriber.session_started, self.transcriber.session_stopped,
                       self.transcriber.speech_start_detected, self.transcriber.speech_end_detected,
                       self.connection.connected, self.connection.disconnected):
            signal.disconnect_all()
        del self.connection
        del self.transcriber

    def __enter__(self) -> SdkTranscriber:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def chunk_boundary(seconds: float) -> int:
    """The byte offset of the first whole-chunk boundary at or after `seconds`.

    The SDK sends whole reads of its own size and keeps a short remainder until more audio or the end
    of the stream comes, so a test that waits for "all written audio arrived" writes whole chunks.
    """
    return -(-int(round(seconds * 16000)) * 2 // CHUNK_BYTES) * CHUNK_BYTES


def script_pcm(script: str, **synth: float) -> tuple[bytes, list]:
    """A meeting script as 16 kHz PCM bytes and its PlannedUtterances."""
    from roomscribe.emulator.script import parse_script, synthesize

    samples, planned = synthesize(parse_script(script), **synth)
    return samples.tobytes(), planned


def assert_transcribed_as_planned(events: list[SdkEvent], planned: list, *, tolerance_s: float = 0.02) -> None:
    """Text, order, Guest-N labels (voices in order of appearance) and offsets of each phrase match the plan."""
    got = [(e.text, e.speaker) for e in events]
    want = [(p.text, f"Guest-{p.speaker_index + 1}") for p in planned]
    assert got == want
    for event, plan in zip(events, planned):
        assert abs(event.offset / 1e7 - plan.start) <= tolerance_s, (event, plan)
        assert abs((event.offset + event.duration) / 1e7 - plan.end) <= tolerance_s, (event, plan)


@pytest.fixture
def emulator():
    """An emulator on a free port that wants the key "test-key"."""
    from roomscribe.emulator import EmulatorThread

    with EmulatorThread(key="test-key") as emu:
        yield emu
