"""Phrase lists: the room's words (names, products, jargon) that the speech service should hear as written.

One set of rules for every way a list arrives: `speech.phrases` in the configuration, a meeting's
`phrases` on the `start` command, the room's list set at run time on `<base>/phrases/set`, and the
command line's `--phrase`. Pure: no I/O.

Limits: Azure documents that "a phrase list shouldn't have more than 500 phrases" (improve-accuracy-phrase-list);
it documents no length per phrase. roomscribe caps a phrase at MAX_PHRASE_CHARS: a phrase list holds
names and short expressions, and a paragraph in it is a mistake (a pasted agenda) worth an error.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

MAX_PHRASES = 500
MAX_PHRASE_CHARS = 100
_CONTROL = re.compile("[\u0000-\u001f\u007f-\u009f\u2028\u2029\ud800-\udfff]")


class PhraseError(ValueError):
    """A phrase list that breaks a rule; the message says which phrase and why."""


def check_phrase(phrase: object) -> str:
    """The phrase with its surrounding white space removed, or PhraseError naming the problem."""
    if not isinstance(phrase, str):
        raise PhraseError(f"a phrase must be a string, not {type(phrase).__name__}")
    text = phrase.strip()
    if not text:
        raise PhraseError("a phrase is empty")
    if len(text) > MAX_PHRASE_CHARS:
        raise PhraseError(f"a phrase has {len(text)} characters, at most {MAX_PHRASE_CHARS}: {text[:40]!r}…")
    if _CONTROL.search(text):
        raise PhraseError(f"a phrase contains control characters or line breaks: {text[:40]!r}")
    return text


def check_phrases(phrases: object) -> tuple[str, ...]:
    """A valid list: each phrase checked, duplicates (case and spacing aside) dropped, order kept."""
    if isinstance(phrases, (str, bytes)) or not isinstance(phrases, (list, tuple)):
        raise PhraseError(f"phrases must be a list of strings, not {type(phrases).__name__}")
    if len(phrases) > MAX_PHRASES:
        raise PhraseError(f"{len(phrases)} phrases, at most {MAX_PHRASES} (Azure's phrase list limit)")
    return merge([check_phrase(p) for p in phrases])


def merge(*lists: Iterable[str]) -> tuple[str, ...]:
    """The lists one after the other, each phrase once (the first spelling wins), order kept."""
    seen: set[str] = set()
    merged: list[str] = []
    for phrases in lists:
        for phrase in phrases:
            key = " ".join(phrase.split()).casefold()
            if key not in seen:
                seen.add(key)
                merged.append(phrase)
    return tuple(merged)


def combined(room: Iterable[str], meeting: Iterable[str]) -> tuple[str, ...]:
    """What the service is sent: the room's list, then the meeting's; PhraseError beyond Azure's 500."""
    phrases = merge(room, meeting)
    if len(phrases) > MAX_PHRASES:
        raise PhraseError(f"the room's and the meeting's phrases together are {len(phrases)}, "
                          f"at most {MAX_PHRASES} (Azure's phrase list limit)")
    return phrases
