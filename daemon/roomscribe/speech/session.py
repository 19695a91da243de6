"""The speech session seam: what the owner asks of a cloud session, and the events it hands back.

No SDK here: the owner (app/daemon.py) is typed against `SpeechSession` and reads these events;
speech/azure.py is the adapter that implements them on the Azure Speech SDK, and the composition
root (app/run.py) is the one module that imports it. A test fake (tests/support/fake_speech.py)
implements the same protocol without the SDK.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Protocol


class SpeechSession(Protocol):
    """One cloud session. `start` and `finish` block for up to seconds (the owner calls them from a
    worker thread); `write` is called on the capture thread, under the audio path's lock."""

    epoch: int  # the speaker epoch it labels
    written_bytes: int  # bytes written so far: the stream offset of the next write

    def start(self) -> None: ...

    def write(self, pcm: bytes) -> None: ...

    def finish(self, *, graceful: bool) -> None: ...

    def set_phrases(self, phrases: tuple[str, ...]) -> None:
        """The phrase list to send; on the owner's loop, quick (no I/O). The SDK sends it with the next
        turn's speech.context: at once for a session not yet started, else at its next reconnect or turn."""
        ...


# Cancellation codes that another attempt will not fix without someone changing a key, a quota or
# the configuration: retried only after a long wait (never in a hot loop).
NOT_RETRYABLE = {"AuthenticationFailure", "Forbidden"}


@dataclass(frozen=True, slots=True)
class SessionEvent:
    session: SpeechSession


@dataclass(frozen=True, slots=True)
class Transcribed(SessionEvent):
    text: str
    speaker: str
    offset_ticks: int
    duration_ticks: int
    language: str | None = None  # with language identification: the candidate detected, or "und"


@dataclass(frozen=True, slots=True)
class Acknowledged(SessionEvent):
    """A final result with nothing to publish (no match, empty): the service settled this audio."""

    offset_ticks: int
    duration_ticks: int


@dataclass(frozen=True, slots=True)
class Transcribing(SessionEvent):
    text: str
    speaker: str
    offset_ticks: int


@dataclass(frozen=True, slots=True)
class Canceled(SessionEvent):
    reason: str  # "Error" or "EndOfStream"
    code: str  # CancellationErrorCode name
    details: str

    @property
    def retryable(self) -> bool:
        return self.code not in NOT_RETRYABLE


@dataclass(frozen=True, slots=True)
class SessionStopped(SessionEvent):
    pass


@dataclass(frozen=True, slots=True)
class ConnectionChanged(SessionEvent):
    connected: bool


@dataclass(frozen=True)
class SpeechTarget:
    """Where and how to connect; built from the config's speech section."""

    key: str
    region: str
    host: str | None
    language: str
    segmentation_silence_ms: int
    diarize_intermediates: bool
    candidates: tuple[str, ...] = ()  # two or more: language identification among them, else `language`
    language_id_mode: str = "continuous"  # or "at_start"
    profanity: str = "masked"  # Azure's default; or "removed", "raw"
    catch_up_speed: float = 4.0  # how fast the SDK may send audio that waited (times real time)


def target_from_settings(speech, key: str) -> SpeechTarget:
    """`speech` is config.SpeechSettings; the key is resolved by Settings.speech_key()."""
    locales = speech.locales
    return SpeechTarget(
        key=key,
        region=speech.region,
        host=speech.host,
        language=locales[0],
        segmentation_silence_ms=speech.segmentation_silence_ms,
        diarize_intermediates=speech.diarize_intermediates,
        candidates=locales if len(locales) > 1 else (),
        language_id_mode=speech.language_id_mode,
        profanity=speech.profanity,
        catch_up_speed=speech.catch_up_speed,
    )


EmitSpeechEvent = Callable[[SessionEvent], None]
# (emit, speaker_epoch) -> a new session; the owner passes a thread-safe hand-over as `emit`.
SessionFactory = Callable[[EmitSpeechEvent, int], SpeechSession]
