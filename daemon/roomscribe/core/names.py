"""Names for the voices: the rules, the request and its answers. Pure: no I/O.

A name belongs to one meeting, one speaker epoch and one label: Guest-1 of epoch 1 is not Guest-1 of
epoch 2 (a new cloud session restarts the labels), nor Guest-1 of another meeting. One set of rules for
every way a name arrives: `<base>/speakers/set` on MQTT, the page, Home Assistant's text entities and
`roomscribe name` (outputs/mqtt/commands.py parses, the owner decides for the running meeting, the
journal for a past one).

A name is 1 to MAX_NAME_CHARS characters once its surrounding white space is dropped, without control
characters or line breaks (it is shown on one line in a page, a caption and a log). `None` removes a
name. A label is what the service said (`Guest-1`): 1 to MAX_LABEL_CHARS characters, no control
characters, and not `Unknown` (words the service could not attribute).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, ClassVar, Union

from roomscribe.core.commands import NAME

MAX_NAME_CHARS = 100
MAX_LABEL_CHARS = 64
MAX_MEETING_CHARS = 128
UNATTRIBUTED = "Unknown"  # the service's label for words it could not give a speaker: not a voice to name
_CONTROL = re.compile("[\u0000-\u001f\u007f-\u009f\u2028\u2029\ud800-\udfff]")


class NamingError(ValueError):
    """A name, label, meeting or speaker epoch that breaks a rule; the message says which and why."""


def check_name(value: object) -> str | None:
    """The name without its surrounding white space, None (remove the name), or NamingError."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise NamingError(f"name must be a string (or null to remove the name), not {type(value).__name__}")
    text = value.strip()
    if not text:
        raise NamingError("name is empty (send null to remove a name)")
    if len(text) > MAX_NAME_CHARS:
        raise NamingError(f"name has {len(text)} characters, at most {MAX_NAME_CHARS}")
    if _CONTROL.search(text):
        raise NamingError("name contains control characters or line breaks")
    return text


def check_label(value: object) -> str:
    """A speaker label as the service gives it (`Guest-1`), or NamingError."""
    if not isinstance(value, str):
        raise NamingError(f"speaker must be a string (a label such as Guest-1), not {type(value).__name__}")
    if not 1 <= len(value) <= MAX_LABEL_CHARS or value != value.strip():
        raise NamingError(f"speaker must be a label of 1 to {MAX_LABEL_CHARS} characters (such as Guest-1)")
    if _CONTROL.search(value):
        raise NamingError("speaker contains control characters")
    if value == UNATTRIBUTED:
        raise NamingError(f"{UNATTRIBUTED} is no voice: the service could not tell who spoke those words")
    return value


def check_meeting(value: object) -> str | None:
    """A meeting reference (an id, a prefix of 4+ characters, `current`, `last`), None for the current one."""
    if value is None:
        return None
    if not isinstance(value, str) or not 1 <= len(value) <= MAX_MEETING_CHARS or _CONTROL.search(value):
        raise NamingError(f"meeting_id must be a string of 1 to {MAX_MEETING_CHARS} characters without control "
                          "characters (an id, a prefix of one, current or last)")
    return value


def check_epoch(value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # JSON Schema counts 2.0 as an integer; so do we
    if type(value) is not int or not 1 <= value <= 2**31:  # noqa: E721  (bool is an int, and no epoch)
        raise NamingError("speaker_epoch must be a whole number, 1 or more")
    return value


@dataclass(frozen=True, slots=True)
class SpeakerNaming:
    """Give a voice a name (or take it away: `name` None). `meeting_id` and `speaker_epoch` None: the
    running meeting and its current epoch (for a past meeting: its last epoch)."""

    command: ClassVar[str] = NAME
    speaker: str
    name: str | None
    meeting_id: str | None = None
    speaker_epoch: int | None = None
    request_id: str | None = None


@dataclass(frozen=True, slots=True)
class Named:
    """Done: the name given (None: taken away), the one before, and the meeting's voices and names now."""

    meeting_id: str
    speaker_epoch: int
    speaker: str
    name: str | None
    previous: str | None
    speakers: tuple[tuple[int, str, str | None], ...]  # (epoch, label, name or None), heard or named
    running: bool

    def detail(self) -> dict[str, Any]:
        """The `speaker_named` event's detail."""
        return {"meeting_id": self.meeting_id, "speaker_epoch": self.speaker_epoch, "speaker": self.speaker,
                "name": self.name, "previous": self.previous, "running": self.running}


@dataclass(frozen=True, slots=True)
class NamingRefused:
    """Not done, and nothing changed: why."""

    reason: str


@dataclass(frozen=True, slots=True)
class IsRunning:
    """The journal found that the meeting meant is the running one, which the owner names (not the journal)."""

    meeting_id: str


NamingResult = Union[Named, NamingRefused, IsRunning]


def unknown_speaker(speaker: str, epoch: int, heard_in: list[int]) -> NamingRefused:
    """The refusal for a label not heard in that epoch, saying where it was heard, if anywhere."""
    if heard_in:
        epochs = ", ".join(str(e) for e in heard_in)
        return NamingRefused(f"unknown speaker: {speaker} did not speak in speaker epoch {epoch} of this meeting "
                             f"(it did in epoch {epochs}: give speaker_epoch)")
    return NamingRefused(f"unknown speaker: {speaker} has not spoken in this meeting")
