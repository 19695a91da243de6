"""How symbols become phrases, and the events the tone recognizer emits (docs/tonespeech.md, decoder
steps 7-8). Pure: no I/O."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from roomscribe.emulator.symbols import Symbol
from roomscribe.emulator.tonespeech import ALPHABET, REPEAT


@dataclass(frozen=True)
class SpeechStart:
    offset: int  # samples from the first sample fed to this recognizer


@dataclass(frozen=True)
class Hypothesis:
    text: str
    speaker: int | None
    offset: int
    duration: int


@dataclass(frozen=True)
class Phrase:
    text: str
    speaker: int | None
    offset: int
    duration: int


Event = SpeechStart | Hypothesis | Phrase


@dataclass
class Utterance:
    offset: int
    end: int
    text: str = ""
    speakers: Counter = field(default_factory=Counter)
    hypothesis_text: str = ""
    hypothesis_end: int = 0

    @property
    def speaker(self) -> int | None:
        top = self.speakers.most_common(1)
        return top[0][0] if top else None


class PhraseBuilder:
    """Symbols in, `SpeechStart` / `Hypothesis` / `Phrase` out: the utterance in flight and its words.

    Positions are samples from the recognizer's first sample; it lives as long as the recognizer, across
    its streams.
    """

    def __init__(self, *, segmentation_samples: int, pause_samples: int, hypothesis_every_samples: int):
        self._segmentation = segmentation_samples  # silence that ends an utterance
        self._pause = pause_samples  # a gap this long inside an utterance separates words
        self._hypothesis_every = hypothesis_every_samples  # longest stretch of new audio without a hypothesis
        self._utterance: Utterance | None = None
        self._events: list[Event] = []

    @property
    def in_flight_offset(self) -> int | None:
        """Where the utterance in flight began; None between utterances."""
        return self._utterance.offset if self._utterance is not None else None

    def on_symbol(self, symbol: Symbol) -> None:
        utterance = self._utterance
        if utterance is not None:
            new_voice = symbol.speaker is not None and utterance.speaker not in (None, symbol.speaker)
            if symbol.start - utterance.end >= self._segmentation or new_voice:
                self._finish_utterance()
                utterance = None
        gap = symbol.start - utterance.end if utterance is not None else 0
        if symbol.code == REPEAT:
            if utterance is None or gap >= self._pause:
                return  # a repeat with nothing to repeat
            char = utterance.text[-1]
        else:
            char = ALPHABET[symbol.code]
        if utterance is None:
            utterance = self._utterance = Utterance(offset=symbol.start, end=symbol.start, hypothesis_end=symbol.start)
            self._events.append(SpeechStart(symbol.start))
        elif gap >= self._pause and not char.isspace() and not utterance.text[-1].isspace():
            self._append(utterance, " ", utterance.end)  # words heard apart are written apart
        if symbol.speaker is not None:
            utterance.speakers[symbol.speaker] += 1
        self._append(utterance, char, symbol.end)

    def silent_until(self, position: int) -> None:
        """No symbol can begin before `position`: the utterance ends if that is a segmentation silence."""
        utterance = self._utterance
        if utterance is not None and position >= utterance.end + self._segmentation:
            self._finish_utterance()

    def finish(self) -> None:
        """End of audio: the utterance in flight, if any, is a phrase."""
        if self._utterance is not None:
            self._finish_utterance()

    def take_events(self) -> list[Event]:
        events, self._events = self._events, []
        return events

    def _append(self, utterance: Utterance, char: str, end: int) -> None:
        if char.isspace() and utterance.text and not utterance.text[-1].isspace():
            self._hypothesize(utterance, utterance.text, utterance.end)  # a word is complete
        utterance.text += char
        utterance.end = end
        if end - utterance.hypothesis_end >= self._hypothesis_every:
            self._hypothesize(utterance, utterance.text, end)

    def _hypothesize(self, utterance: Utterance, text: str, end: int) -> None:
        if len(text) > len(utterance.hypothesis_text):
            self._events.append(Hypothesis(text, utterance.speaker, utterance.offset, end - utterance.offset))
            utterance.hypothesis_text, utterance.hypothesis_end = text, end

    def _finish_utterance(self) -> None:
        utterance, self._utterance = self._utterance, None
        if utterance is None:
            return
        self._hypothesize(utterance, utterance.text, utterance.end)  # the last hypothesis is the phrase
        duration = utterance.end - utterance.offset
        self._events.append(Phrase(utterance.text, utterance.speaker, utterance.offset, duration))
