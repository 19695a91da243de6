"""The voice stage after the pause gate: only speech (with a little around it) goes to the push stream.

Azure bills every second streamed, silence included. Each chunk that passed the gate comes here with a
detector's speech probability for it; the stage decides which chunks to write now:

    suppressing ──N speech frames in a row──▶ sending ──hangover of non-speech──▶ suppressing
         │  (emits the pre-roll first)           │ (every chunk flows, a speech frame re-arms the hangover)
         └─ chunks go into the pre-roll ring      └─ reset() (the gate closed) ──▶ suppressing, ring empty

* Pre-roll: while suppressing, the last `pre_roll_ms` of audio (plus the onset frames) wait in a bounded
  ring in memory. When speech starts they go out first, oldest first, so the first syllables, and what
  the detector needed to hear before it was sure, reach the service. Nothing else is ever kept.
* Onset: `onset_frames` speech frames in a row open the stage, so one noise blip does not.
* Hangover: after the last speech frame `hangover_ms` more audio flows: trailing words, and the silence
  the service needs to end the phrase (its segmentation silence).
* reset(): the caller calls it whenever the pause gate closes. The ring is emptied at once, so audio
  captured before a pause can never be sent as pre-roll after the resume.

Every emitted chunk keeps its own `captured_at`, so the timeline still maps stream offsets to true wall
clock across suppressed spans. Pure logic: no I/O, no threads; the caller owns the instance.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Protocol

from roomscribe.core.audio_format import CHUNK_BYTES, CHUNK_MS, AudioChunk, bytes_to_seconds


class SpeechDetector(Protocol):
    """A voice activity detector that judges one 10 ms chunk (16 kHz, 16-bit mono) at a time, in order."""

    def speech_probability(self, pcm: bytes) -> float:
        """Probability (0..1) that this chunk holds speech; the detector may use the chunks before it."""
        ...

    def reset(self) -> None:
        """Forget the audio heard so far (called when the stream of chunks is interrupted)."""
        ...


@dataclass(frozen=True, slots=True)
class VoiceFilterSettings:
    """How the stage turns per-chunk speech probabilities into what is sent. Times in milliseconds."""

    threshold: float = 0.5  # a chunk is speech when the detector's probability is at least this
    pre_roll_ms: int = 400  # audio kept before the onset and sent when speech starts
    hangover_ms: int = 300  # audio still sent after the last speech chunk (trailing words + end-of-phrase silence)
    onset_frames: int = 3  # speech chunks in a row that start sending

    # Defaults measured with pymicro-vad (docs/vad.md): it reports speech 50-400 ms after speech starts, so
    # the pre-roll covers that; it keeps reporting speech 0.4-0.7 s after speech ends, so with the
    # hangover the service gets 0.7 s or more of trailing audio, over the 500 ms it needs to end a phrase.

    def __post_init__(self) -> None:
        problems = []
        if not 0.0 < self.threshold < 1.0:
            problems.append(f"threshold must be between 0 and 1, exclusive (got {self.threshold!r})")
        for name in ("pre_roll_ms", "hangover_ms"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 5000:
                problems.append(f"{name} must be a whole number of milliseconds from 0 to 5000 (got {value!r})")
            elif value % CHUNK_MS:
                problems.append(f"{name} must be a multiple of the {CHUNK_MS} ms chunk (got {value!r})")
        onset = self.onset_frames
        if isinstance(onset, bool) or not isinstance(onset, int) or not 1 <= onset <= 50:
            problems.append(f"onset_frames must be a whole number from 1 to 50 (got {onset!r})")
        if problems:
            raise ValueError("; ".join(problems))

    @property
    def pre_roll_chunks(self) -> int:
        return self.pre_roll_ms // CHUNK_MS

    @property
    def hangover_chunks(self) -> int:
        return self.hangover_ms // CHUNK_MS


@dataclass(frozen=True, slots=True)
class VoiceFilterStats:
    sent_seconds: float = 0.0  # audio handed on to the push stream
    suppressed_seconds: float = 0.0  # audio dropped: fell out of the pre-roll, or emptied by reset()
    held_seconds: float = 0.0  # audio in the pre-roll now: neither sent nor suppressed yet
    segments: int = 0  # times sending started (speech onsets)
    sending: bool = False


class VoiceFilter:
    def __init__(self, settings: VoiceFilterSettings | None = None):
        self.settings = settings or VoiceFilterSettings()
        # The ring holds the pre-roll plus the onset frames before the one that opens the stage, so a full
        # pre_roll_ms precedes the first speech chunk.
        self._ring: deque[AudioChunk] = deque(maxlen=self.settings.pre_roll_chunks + self.settings.onset_frames - 1)
        self._ring_bytes = 0
        self._sending = False
        self._run = 0  # speech chunks in a row while suppressing
        self._hangover_left = 0
        self._sent = self._suppressed = 0  # bytes
        self._segments = 0

    @property
    def sending(self) -> bool:
        """True from a speech onset to the end of its hangover."""
        return self._sending

    @property
    def stats(self) -> VoiceFilterStats:
        return VoiceFilterStats(
            sent_seconds=bytes_to_seconds(self._sent),
            suppressed_seconds=bytes_to_seconds(self._suppressed),
            held_seconds=bytes_to_seconds(self._ring_bytes),
            segments=self._segments,
            sending=self._sending,
        )

    def process(self, chunk: AudioChunk, probability: float) -> list[AudioChunk]:
        """The chunks to write now, oldest first: [], [chunk], or the pre-roll followed by `chunk`."""
        speech = probability >= self.settings.threshold
        if self._sending:
            if speech:
                self._hangover_left = self.settings.hangover_chunks
            elif self._hangover_left > 0:
                self._hangover_left -= 1
            else:
                self._sending = False
                return self._hold(chunk, speech)
            self._sent += len(chunk.pcm)
            return [chunk]
        return self._hold(chunk, speech)

    def reset(self) -> None:
        """Drop the pre-roll and stop sending: call it whenever the pause gate closes."""
        self._suppressed += self._ring_bytes
        self._ring.clear()
        self._ring_bytes = 0
        self._sending = False
        self._run = 0
        self._hangover_left = 0

    def _hold(self, chunk: AudioChunk, speech: bool) -> list[AudioChunk]:
        self._run = self._run + 1 if speech else 0
        if self._run >= self.settings.onset_frames:
            out = [*self._ring, chunk]
            self._sent += self._ring_bytes + len(chunk.pcm)
            self._ring.clear()
            self._ring_bytes = 0
            self._run = 0
            self._sending = True
            self._hangover_left = self.settings.hangover_chunks
            self._segments += 1
            return out
        if self._ring.maxlen == 0:
            self._suppressed += len(chunk.pcm)
            return []
        if len(self._ring) == self._ring.maxlen:
            evicted = self._ring[0]
            self._suppressed += len(evicted.pcm)
            self._ring_bytes -= len(evicted.pcm)
        self._ring.append(chunk)
        self._ring_bytes += len(chunk.pcm)
        return []


class VoiceStage:
    """A detector and a filter together: what the audio path calls per chunk that passed the gate."""

    def __init__(self, detector: SpeechDetector, settings: VoiceFilterSettings | None = None):
        self.detector = detector
        self.filter = VoiceFilter(settings)

    @property
    def sending(self) -> bool:
        return self.filter.sending

    @property
    def settings(self) -> VoiceFilterSettings:
        return self.filter.settings

    @property
    def stats(self) -> VoiceFilterStats:
        return self.filter.stats

    def process(self, chunk: AudioChunk) -> list[AudioChunk]:
        # A file's last chunk may be short; the detector judges whole 10 ms chunks, so it hears it padded.
        pcm = chunk.pcm if len(chunk.pcm) == CHUNK_BYTES else chunk.pcm[:CHUNK_BYTES].ljust(CHUNK_BYTES, b"\0")
        return self.filter.process(chunk, self.detector.speech_probability(pcm))

    def reset(self) -> None:
        """The gate closed: drop the pre-roll and let the detector forget what it heard before the pause."""
        self.filter.reset()
        self.detector.reset()
