"""The Azure adapter of speech/session.py: a ConversationTranscriber reading from a PushAudioInputStream.

The SDK raises its events on its own threads; this adapter turns each one into a small frozen
event and hands it to `emit` (the owner passes a thread-safe hand-over). It never changes the
daemon's state itself. `start` and `finish` block for up to seconds, so the owner calls them from
a worker thread.
"""

from __future__ import annotations

import logging
import threading
from typing import Callable

import azure.cognitiveservices.speech as speechsdk

from roomscribe.core.audio_format import BITS, CHANNELS, SAMPLE_RATE
from roomscribe.core.locales import match_candidate
from roomscribe.speech.session import (
    Acknowledged,
    Canceled,
    ConnectionChanged,
    SessionEvent,
    SessionStopped,
    SpeechTarget,
    Transcribed,
    Transcribing,
)

log = logging.getLogger(__name__)

# The SDK paces what it sends at twice real time once it is behind (after a first burst); audio that
# waited through an outage may go faster. The name is the native SDK's own (found in its library, not
# documented); an SDK that ignores it keeps its own pace. The owner never lets more than 30 s go
# unacknowledged (core/uplink.py), so a service slower than this is waited for, not overrun.
THROTTLE_PROPERTY = "SPEECH-AudioThrottleAsPercentageOfRealTime"


class AzureSpeechSession:
    """speech.session.SpeechSession on the Azure Speech SDK."""

    def __init__(self, target: SpeechTarget, emit: Callable[[SessionEvent], None], *, epoch: int):
        self.epoch = epoch
        self._emit = emit
        self._stopped = threading.Event()
        self.written_bytes = 0
        if target.host:
            config = speechsdk.SpeechConfig(host=target.host, subscription=target.key)
        else:
            config = speechsdk.SpeechConfig(subscription=target.key, region=target.region)
        languages = _language_config(config, target)
        config.set_profanity(speechsdk.ProfanityOption[target.profanity.capitalize()])
        config.set_property(
            speechsdk.PropertyId.Speech_SegmentationSilenceTimeoutMs, str(target.segmentation_silence_ms)
        )
        if target.diarize_intermediates:
            config.set_property(speechsdk.PropertyId.SpeechServiceResponse_DiarizeIntermediateResults, "true")
        config.set_property_by_name(THROTTLE_PROPERTY, str(round(target.catch_up_speed * 100)))
        stream_format = speechsdk.audio.AudioStreamFormat(
            samples_per_second=SAMPLE_RATE, bits_per_sample=BITS, channels=CHANNELS
        )
        self._stream = speechsdk.audio.PushAudioInputStream(stream_format)
        audio_config = speechsdk.audio.AudioConfig(stream=self._stream)
        self._transcriber = speechsdk.transcription.ConversationTranscriber(
            speech_config=config, audio_config=audio_config, **languages
        )
        self._candidates = target.candidates
        # The SDK sends the list in every turn's speech.context ("dgi"), reconnects included (docs/words.md).
        self._phrase_list = speechsdk.PhraseListGrammar.from_recognizer(self._transcriber)
        self._connection = speechsdk.Connection.from_recognizer(self._transcriber)
        self._wire()

    def _wire(self) -> None:
        t = self._transcriber
        t.transcribed.connect(self._guard(self._on_transcribed))
        t.transcribing.connect(self._guard(self._on_transcribing))
        t.canceled.connect(self._guard(self._on_canceled))
        t.session_stopped.connect(self._guard(lambda evt: self._emit(SessionStopped(self))))
        self._connection.connected.connect(self._guard(lambda evt: self._emit(ConnectionChanged(self, True))))
        self._connection.disconnected.connect(self._guard(lambda evt: self._emit(ConnectionChanged(self, False))))

    def _guard(self, handler):
        def guarded(evt):
            try:
                handler(evt)
            except Exception:  # an exception must not travel into the SDK's thread
                log.exception("speech event handler failed", extra={"callback_guard": True})

        return guarded

    def _on_transcribed(self, evt) -> None:
        result = evt.result
        if result.reason != speechsdk.ResultReason.RecognizedSpeech or not result.text:
            # NoMatch and empty phrases carry nothing to publish, but the service answered and settled that audio.
            self._emit(Acknowledged(self, result.offset, result.duration))
            return
        language = None
        if self._candidates:  # the service's PrimaryLanguage.Language, passed through by the SDK as it came
            detected = result.properties.get(speechsdk.PropertyId.SpeechServiceConnection_AutoDetectSourceLanguageResult)
            language = match_candidate(detected, self._candidates)
        self._emit(Transcribed(self, result.text, result.speaker_id or "Unknown", result.offset, result.duration,
                               language))

    def _on_transcribing(self, evt) -> None:
        result = evt.result
        if result.text:
            self._emit(Transcribing(self, result.text, result.speaker_id or "Unknown", result.offset))

    def _on_canceled(self, evt) -> None:
        if self._stopped.is_set():
            return  # the SDK reports closes of a session we already stopped; they mean nothing now
        details = evt.cancellation_details
        self._emit(Canceled(self, details.reason.name, details.code.name, details.error_details or ""))

    # -- owner-side API ------------------------------------------------------------------------

    def start(self) -> None:
        """Blocking: returns once the SDK accepted the start. It connects at once, but the start returns
        before: the owner hears that the service answered from `ConnectionChanged` or a result."""
        self._transcriber.start_transcribing_async().get()

    def set_phrases(self, phrases: tuple[str, ...]) -> None:
        """Replace the phrase list. The SDK has no atomic replace; it reads the list only when it builds a
        turn's speech.context, so a turn starting between clear() and the last addPhrase is the one window."""
        self._phrase_list.clear()
        for phrase in phrases:
            self._phrase_list.addPhrase(phrase)

    def write(self, pcm: bytes) -> None:
        self._stream.write(pcm)
        self.written_bytes += len(pcm)

    def finish(self, *, graceful: bool, timeout: float = 4.0) -> None:
        """Blocking. Graceful: end the audio so the service answers everything written, then stop."""
        if graceful:
            # Closing the stream makes the SDK send every written byte, then end-of-audio; the service
            # answers with the last phrase and turn.end. stop_transcribing_async alone would drop
            # audio written but not yet sent.
            done = threading.Event()
            self._transcriber.session_stopped.connect(lambda evt: done.set())
            self._transcriber.canceled.connect(lambda evt: done.set())
            self._stream.close()
            if not done.wait(timeout):
                log.warning("speech service did not finish the session within %.1f s", timeout)
        self._stopped.set()
        try:
            self._transcriber.stop_transcribing_async().get()
        except Exception as exc:  # the SDK raises if the session already ended on its own
            log.debug("stop_transcribing_async: %s", exc)
        if not graceful:
            self._stream.close()
        try:
            self._connection.close()
        except Exception as exc:
            log.debug("connection close: %s", exc)
        self._release()

    def _release(self) -> None:
        """Let go of the SDK's objects now. The callbacks refer back to this object, a cycle that only the
        garbage collector would break, late: a meeting that lost its session a few times would keep each
        transcriber's native buffers meanwhile."""
        t, connection = self._transcriber, self._connection
        for signal in (t.transcribed, t.transcribing, t.canceled, t.session_stopped, connection.connected,
                       connection.disconnected):
            try:
                signal.disconnect_all()
            except Exception as exc:  # noqa: BLE001  (best effort: the objects go either way)
                log.debug("disconnect: %s", exc)


def _language_config(config, target: SpeechTarget) -> dict:
    """The transcriber's language arguments: one recognition locale, or language identification among
    the candidates (continuous: every utterance; at_start: once per session, the service's default)."""
    if not target.candidates:
        config.speech_recognition_language = target.language
        return {}
    if target.language_id_mode == "continuous":
        config.set_property(speechsdk.PropertyId.SpeechServiceConnection_LanguageIdMode, "Continuous")
    detect = speechsdk.languageconfig.AutoDetectSourceLanguageConfig(languages=list(target.candidates))
    return {"auto_detect_source_language_config": detect}
