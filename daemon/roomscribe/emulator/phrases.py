"""What the tone recognizer hears, and how symbols become phrases: a part of ToneRecognizer
(recognizer.py), with the events it emits."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

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
    """ToneRecognizer's symbols-to-phrases step; uses its current utterance, events and timing settings."""

    def _on_symbol(self, code: int, speaker: int | None, start: int, end: int) -> None:
        utterance = self._utterance
        if utterance is not None:
            new_voice = speaker is not None and utterance.speaker not in (None, speaker)
            if start - utterance.end >= self._segmentation or new_voice:
                self._finish_utterance()
                utterance = None
        gap = start - utterance.end if utterance is not None else None
        if code == REPEAT:
            if utterance is None or gap >= self._pause:
                return  # a repeat with nothing to repeat
            char = utterance.text[-1]
        else:
            char = ALPHABET[code]
        if utterance is None:
            utterance = self._utterance = Utterance(offset=start, end=start, hypothesis_end=start)
            self._events.append(SpeechStart(start))
        elif gap >= self._pause and not char.isspace() and not utterance.text[-1].isspace():
            self._append(utterance, " ", utterance.end)  # words heard apart are written apart
        if speaker is not None:
            utterance.speakers[speaker] += 1
        self._append(utterance, char, end)

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
        self._hypothesize(utterance, utterance.text, utterance.end)  # the last hypothesis is the phrase
        duration = utterance.end - utterance.offset
        self._events.append(Phrase(utterance.text, utterance.speaker, utterance.offset, duration))
        self._settled = max(self._settled, utterance.end)
