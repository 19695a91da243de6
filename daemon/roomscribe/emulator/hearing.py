"""What the emulated service makes of the tone text it decoded: the language model's part.

Tone speech carries text exactly (docs/tonespeech.md). Two marks in that text stand for what real speech
carries and tones cannot: which language a phrase is in, and which word is one the service's general
model does not know. The marks are spoken like any text; the emulator hears them, no one tells it.

* `<de-DE>` at the start of an utterance: it is spoken in German. Unmarked speech is in the turn's
  recognition language (its first candidate with language identification).
* `{Contoso}`: a term (a name, a product, jargon). It comes out as written only when the turn's phrase
  list carries it, and as a plausible mishearing ("kon toso") otherwise.

What the turn listens for comes from the SDK's speech.context (as SDK 1.53 sends it, docs/emulator.md):
`phraseDetection.language` (or the URL's `language`), `languageId` {languages, mode} and `dgi`
{Groups[].Items[].Text, bias}. Speech in a language other than the one the service recognizes in is
heard through the wrong language model: every word misheard. Pure: no I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

LANGUAGE_MARK = re.compile(r"^\s*<([A-Za-z]{2,3}(?:-[A-Za-z0-9]{2,8})*)>\s*")
_PARTIAL_MARK = re.compile(r"^\s*<[^>]*$")
_LATER_MARK = re.compile(r"<[A-Za-z]{2,3}(?:-[A-Za-z0-9]{2,8})*>\s*")
# Language identification decides from this much of an utterance's speech before it sends a partial
# result: the emulator's model of Azure's "initial latency is higher with language identification".
LANGUAGE_DECISION_SAMPLES = 16000  # 1 s at 16 kHz


@dataclass(frozen=True)
class Listening:
    """What one turn's speech.context asks the service to listen for."""

    language: str  # the recognition language without language identification
    candidates: tuple[str, ...] = ()  # language identification among these, when not empty
    continuous: bool = False  # DetectContinuous: every utterance; else DetectAtAudioStart: once per turn
    phrases: tuple[str, ...] = ()  # the phrase list (empty also when its bias is 0: the list is off)

    @classmethod
    def from_context(cls, context: dict, url_language: str | None) -> "Listening":
        detection, lid = (node if isinstance(node, dict) else {} for node in (context.get("phraseDetection"),
                                                                             context.get("languageId")))
        language = str(detection.get("language") or url_language or "en-US")
        languages = lid.get("languages")
        candidates = tuple(c for c in languages if isinstance(c, str)) if isinstance(languages, list) else ()
        return cls(language, candidates, lid.get("mode") == "DetectContinuous", _phrase_list(context.get("dgi")))


def _phrase_list(dgi: object) -> tuple[str, ...]:
    if not isinstance(dgi, dict) or dgi.get("bias") in (0, 0.0, "0"):
        return ()
    groups = found if isinstance(found := dgi.get("Groups"), list) else []
    items = (item for group in groups if isinstance(group, dict) for item in (group.get("Items") or ())
             if isinstance(group.get("Items"), list))
    return tuple(item["Text"] for item in items if isinstance(item, dict) and isinstance(item.get("Text"), str))


@dataclass(frozen=True)
class Heard:
    text: str
    language: str | None  # what language identification says (None without it)
    confident: bool = True  # the spoken language was one of the candidates


class Hearing:
    """One turn's ears: the at-start decision, once made, holds for the rest of the turn."""

    def __init__(self, listening: Listening):
        self.listening = listening
        self._decided: str | None = None  # at-start: the language identified on the turn's first utterance

    def hear(self, text: str, *, final: bool) -> Heard:
        listening = self.listening
        spoken, text = _spoken_language(text, listening)
        if spoken is None:  # the start of a language mark: nothing to show yet
            return Heard("", None)
        if not listening.candidates:
            recognized, detected, confident = listening.language, None, True
        else:
            if self._decided is None or listening.continuous:
                self._decided = _identify(spoken, listening.candidates)
            recognized = detected = self._decided
            confident = _base(spoken) == _base(detected)
        foreign = _base(spoken) != _base(recognized)
        return Heard(_words(text, listening.phrases, foreign, final), detected, confident)

    def holds_partial(self, heard_samples: int) -> bool:
        """Language identification still deciding: no partial result for this utterance yet."""
        if not self.listening.candidates or (self._decided is not None and not self.listening.continuous):
            return False
        return heard_samples < LANGUAGE_DECISION_SAMPLES


def _spoken_language(text: str, listening: Listening) -> tuple[str | None, str]:
    match = LANGUAGE_MARK.match(text)
    if match:  # a later mark (two lines heard as one utterance) is the same sentence's: it says no more
        return match.group(1), _LATER_MARK.sub("", text[match.end():])
    if _PARTIAL_MARK.match(text):
        return None, ""
    return (listening.candidates[0] if listening.candidates else listening.language), text.lstrip()


def _identify(spoken: str, candidates: tuple[str, ...]) -> str:
    """The candidate the service names: the spoken locale, else one of its base language, else (as Azure
    documents: it "returns one of the candidate languages provided even if those languages weren't in the
    audio") the first."""
    for candidate in candidates:
        if candidate.casefold() == spoken.casefold():
            return candidate
    return next((c for c in candidates if _base(c) == _base(spoken)), candidates[0])


def _base(locale: str) -> str:
    return locale.split("-")[0].casefold()


_TERM = re.compile(r"\{([^{}]*)(\}|$)")
_WORD = re.compile(r"[A-Za-z']+")


def _words(text: str, phrases: tuple[str, ...], foreign: bool, final: bool) -> str:
    """The text with its terms resolved; every other word misheard too when the language is foreign."""
    out: list[str] = []
    position = 0
    for match in _TERM.finditer(text):
        out.append(_plain(text[position:match.start()], foreign))
        if match.group(2) or final:  # a term still being spoken is not shown in a partial
            out.append(_term(match.group(1), phrases))
        position = match.end()
    out.append(_plain(text[position:], foreign))
    return re.sub(r" {2,}", " ", "".join(out)).strip()


def _plain(text: str, foreign: bool) -> str:
    return _WORD.sub(lambda m: mishear(m.group(0)), text) if foreign else text


def _term(term: str, phrases: tuple[str, ...]) -> str:
    """As written (in the phrase list's spelling) when the list carries it, else misheard."""
    words = term.split()
    wanted = [w.casefold() for w in words]
    for phrase in phrases:
        listed = phrase.split()
        folded = [w.casefold() for w in listed]
        for start in range(len(folded) - len(wanted) + 1):
            if wanted and folded[start:start + len(wanted)] == wanted:
                return " ".join(listed[start:start + len(wanted)])
    return _WORD.sub(lambda m: mishear(m.group(0)), term)


_SOUNDS = {"ph": "f", "ck": "k", "qu": "kw", "th": "d", "ie": "ee", "ei": "i", "c": "k", "x": "ks", "z": "s",
           "w": "v", "y": "ie"}
_SOUND = re.compile("|".join(sorted(_SOUNDS, key=len, reverse=True)))
_SWAP = str.maketrans("bdgkmnptsfv", "ptkgnmbdzvf")


def mishear(word: str) -> str:
    """A plausible mishearing, never the word itself: spelt by its sound, split where a listener who did
    not know it would hear two words ("Contoso" -> "kon toso", "Fabrikam" -> "fab rikam")."""
    heard = _SOUND.sub(lambda m: _SOUNDS[m.group(0)], word.lower())
    if len(heard) >= 5:
        vowel = re.search(r"[aeiou]+[^aeiou]", heard)
        if vowel is not None and vowel.end() < len(heard) - 1:
            heard = f"{heard[:vowel.end()]} {heard[vowel.end():]}"
    if heard == word.lower():
        heard = heard[:-1] + heard[-1].translate(_SWAP) if heard[-1].translate(_SWAP) != heard[-1] else heard + "e"
    return heard
