"""The restart-per-resume approach, for comparison: pause ends the session, resume starts a new one.

A small, honest implementation with the real Speech SDK, written to be as fast as that approach can be:
the stop runs at the pause (so the resume never waits for it), and on resume the new push stream takes
live audio at once, before the new transcriber has even been started, so nothing waits on anything but
the SDK's own connect. Chunks come from the same WAV file source the daemon uses, at the same pace.

`prime=True` goes one step further. The SDK sends audio only in whole 100 ms frames (3200 bytes), so a
fresh stream holds its first chunk until the frame is full. Priming the new stream with a frame less one
chunk of silence lets the first live chunk complete a frame at once.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path

import azure.cognitiveservices.speech as speechsdk

from roomscribe.core.audio_format import BITS, CHANNELS, CHUNK_BYTES, SAMPLE_RATE, AudioChunk
from roomscribe.audio.wavfile import WavFileSource

log = logging.getLogger(__name__)

SDK_FRAME_BYTES = 3200  # the SDK sends audio in whole frames of 100 ms (observed with SDK 1.53)


@dataclass(frozen=True)
class Heard:
    session: int  # 1 for the first transcriber, 2 after the first resume, …
    speaker: str
    text: str


class _Transcriber:
    """One ConversationTranscriber reading one PushAudioInputStream."""

    def __init__(self, host: str, key: str, session: int, on_heard) -> None:
        config = speechsdk.SpeechConfig(host=host, subscription=key)
        config.speech_recognition_language = "en-US"
        stream_format = speechsdk.audio.AudioStreamFormat(
            samples_per_second=SAMPLE_RATE, bits_per_sample=BITS, channels=CHANNELS
        )
        self.stream = speechsdk.audio.PushAudioInputStream(stream_format)
        self.transcriber = speechsdk.transcription.ConversationTranscriber(
            speech_config=config, audio_config=speechsdk.audio.AudioConfig(stream=self.stream)
        )
        self.connection = speechsdk.Connection.from_recognizer(self.transcriber)

        def heard(evt) -> None:
            try:
                result = evt.result
                if result.reason == speechsdk.ResultReason.RecognizedSpeech and result.text:
                    on_heard(Heard(session, result.speaker_id or "Unknown", result.text))
            except Exception:  # never into the SDK's thread
                log.exception("transcribed handler failed")

        self.transcriber.transcribed.connect(heard)

    def stop(self) -> None:
        try:
            self.transcriber.stop_transcribing_async().get()
        except Exception as exc:
            log.debug("stop: %s", exc)
        self.stream.close()
        try:
            self.connection.close()  # frees the socket (a concurrency slot) now, not at garbage collection
        except Exception as exc:
            log.debug("connection close: %s", exc)


class RestartPerResume:
    def __init__(self, wav: Path, *, host: str, key: str = "bench", speed: float = 1.0, prime: bool = False) -> None:
        self.source = WavFileSource(wav, speed=speed)
        self._prime = prime
        self._host, self._key = host, key
        self._lock = threading.Lock()
        self._current: _Transcriber | None = None  # None while paused: chunks are dropped
        self._sessions = 0
        self.heard: list[Heard] = []

    def _on_heard(self, heard: Heard) -> None:
        with self._lock:
            self.heard.append(heard)

    def _on_chunk(self, chunk: AudioChunk) -> None:
        with self._lock:
            current = self._current
            if current is not None:
                current.stream.write(chunk.pcm)

    def _new_transcriber(self) -> _Transcriber:
        self._sessions += 1
        return _Transcriber(self._host, self._key, self._sessions, self._on_heard)

    def start(self) -> None:
        transcriber = self._new_transcriber()
        transcriber.transcriber.start_transcribing_async().get()
        with self._lock:
            self._current = transcriber
        self.source.start(self._on_chunk, lambda status: None)

    def pause(self) -> None:
        """No chunk is written from here on; the session is stopped and dropped."""
        with self._lock:
            old, self._current = self._current, None
        if old is not None:
            old.stop()

    def resume(self) -> None:
        """A new transcriber and push stream; live audio flows into the stream before it is even started."""
        transcriber = self._new_transcriber()
        if self._prime:
            transcriber.stream.write(bytes(SDK_FRAME_BYTES - CHUNK_BYTES))
        with self._lock:
            self._current = transcriber
        transcriber.transcriber.start_transcribing_async().get()

    def stop(self) -> None:
        self.source.stop()
        with self._lock:
            last, self._current = self._current, None
        if last is not None:
            last.stop()
