"""Parsing command payloads: pure, strict, and never raising anything but CommandRejected.

A command payload is empty, or a JSON object that may carry `request_id` (schemas/command.schema.json),
and `phrases` on start. The room's phrase list (`<base>/phrases/set`) is a JSON array of phrases or an
object with `phrases` and `request_id` (schemas/phrases_set.schema.json). A name for a voice
(`<base>/speakers/set`) is an object with `speaker` and `name`, and optionally `meeting_id`,
`speaker_epoch` and `request_id` (schemas/speakers_set.schema.json; the rules in core/names.py).
Everything else is refused with a reason the link publishes on `<base>/event`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from roomscribe.core.commands import BY_NAME, COMMANDS, NAME, PHRASES
from roomscribe.core.names import (
    NamingError,
    SpeakerNaming,
    check_epoch,
    check_label,
    check_meeting,
    check_name,
)
from roomscribe.core.phrases import PhraseError, check_phrases
from roomscribe.outputs.mqtt.topics import SWITCH_OFF, SWITCH_ON

CommandName = str  # one of core.commands.COMMANDS
COMMAND_NAMES: tuple[CommandName, ...] = COMMANDS

MAX_COMMAND_BYTES = 4096
# The room's whole list (phrases/set): 500 phrases of 100 characters, and JSON's quotes. A start's phrases
# (a meeting's attendees, its subject's words) stay within the 4 KiB of every command.
MAX_PHRASES_BYTES = 64 * 1024
MAX_REQUEST_ID_CHARS = 128
_JSON_WHITESPACE = b" \t\r\n"
# Control characters would garble logs; lone surrogates cannot be encoded back to UTF-8 for the echo.
_FORBIDDEN_IN_REQUEST_ID = re.compile("[\u0000-\u001f\u007f\ud800-\udfff]")


@dataclass(frozen=True, slots=True)
class Command:
    name: CommandName
    request_id: str | None = None
    phrases: tuple[str, ...] | None = None  # start: the meeting's phrase list; phrases: the room's

    @property
    def command(self) -> CommandName:
        """The command's name, as core.names.SpeakerNaming says its own."""
        return self.name


class CommandRejected(ValueError):
    def __init__(self, reason: str, request_id: str | None = None):
        super().__init__(reason)
        self.reason = reason
        self.request_id = request_id  # when the payload was readable enough to carry one


def parse_command(name: str, payload: bytes) -> Command | SpeakerNaming:
    if name == PHRASES:
        return parse_phrases(payload)
    if name == NAME:
        return parse_naming(payload)
    if name not in COMMAND_NAMES:
        raise CommandRejected(f"unknown command {name!r}")
    if not payload.strip(_JSON_WHITESPACE):
        _check_size(payload)
        return Command(name)
    document = _json(payload)
    if not isinstance(document, dict):
        raise CommandRejected(f"payload must be a JSON object, not {type(document).__name__}")
    request_id = _request_id(document)
    unknown = sorted(set(document) - {"request_id", *BY_NAME[name].options})
    if unknown:
        raise CommandRejected(f"unknown keys: {', '.join(map(repr, unknown))[:200]}", request_id)
    return Command(name, request_id, _phrases(document["phrases"], request_id) if "phrases" in document else None)


def parse_phrases(payload: bytes) -> Command:
    """`<base>/phrases/set`: the room's new list, `["Contoso", …]` or `{"phrases": […], "request_id": …}`."""
    document = _json(payload, limit=MAX_PHRASES_BYTES)
    if isinstance(document, list):
        return Command(PHRASES, None, _phrases(document, None))
    if not isinstance(document, dict):
        raise CommandRejected(f"payload must be a JSON array of phrases or an object with 'phrases', "
                              f"not {type(document).__name__}")
    request_id = _request_id(document)
    unknown = sorted(set(document) - {"request_id", "phrases"})
    if unknown:
        raise CommandRejected(f"unknown keys: {', '.join(map(repr, unknown))[:200]}", request_id)
    if "phrases" not in document:
        raise CommandRejected("no 'phrases': send the room's new list ([] clears it)", request_id)
    return Command(PHRASES, request_id, _phrases(document["phrases"], request_id))


_NAMING_KEYS = {"speaker", "name", "meeting_id", "speaker_epoch", "request_id"}


def parse_naming(payload: bytes) -> SpeakerNaming:
    """`<base>/speakers/set`: `{"speaker": "Guest-1", "name": "Alice"}` (null removes the name), with optional
    `meeting_id`, `speaker_epoch` and `request_id`."""
    document = _json(payload)
    if not isinstance(document, dict):
        raise CommandRejected(f"payload must be a JSON object with 'speaker' and 'name', not {type(document).__name__}")
    request_id = _request_id(document)
    unknown = sorted(set(document) - _NAMING_KEYS)
    if unknown:
        raise CommandRejected(f"unknown keys: {', '.join(map(repr, unknown))[:200]}", request_id)
    for key in ("speaker", "name"):
        if key not in document:
            raise CommandRejected(f"no '{key}': send the speaker's label and the name (null takes a name away)",
                                  request_id)
    try:
        return SpeakerNaming(speaker=check_label(document["speaker"]), name=check_name(document["name"]),
                             meeting_id=check_meeting(document.get("meeting_id")),
                             speaker_epoch=check_epoch(document.get("speaker_epoch")), request_id=request_id)
    except NamingError as exc:
        raise CommandRejected(str(exc), request_id) from None


def _check_size(payload: bytes, limit: int = MAX_COMMAND_BYTES) -> None:
    if len(payload) > limit:
        raise CommandRejected(f"payload too large: {len(payload)} bytes, at most {limit}")


def _json(payload: bytes, limit: int = MAX_COMMAND_BYTES):
    _check_size(payload, limit)
    if not payload.strip(_JSON_WHITESPACE):
        raise CommandRejected("payload is empty: send JSON")
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        raise CommandRejected("payload is not UTF-8") from None
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        raise CommandRejected("payload is neither empty nor JSON") from None


def _phrases(value, request_id: str | None) -> tuple[str, ...]:
    try:
        return check_phrases(value)
    except PhraseError as exc:
        raise CommandRejected(str(exc), request_id) from None


def parse_switch(payload: bytes) -> Command:
    """Home Assistant's switch: ON pauses, OFF resumes."""
    value = payload.strip(_JSON_WHITESPACE)
    if value == SWITCH_ON.encode():
        return Command("pause")
    if value == SWITCH_OFF.encode():
        return Command("resume")
    raise CommandRejected(f"expected {SWITCH_ON} or {SWITCH_OFF}")


def _request_id(document: dict) -> str | None:
    if "request_id" not in document:
        return None
    value = document["request_id"]
    if not isinstance(value, str):
        raise CommandRejected(f"request_id must be a string, not {type(value).__name__}")
    if not 1 <= len(value) <= MAX_REQUEST_ID_CHARS:
        raise CommandRejected(f"request_id must have 1 to {MAX_REQUEST_ID_CHARS} characters")
    if _FORBIDDEN_IN_REQUEST_ID.search(value):
        raise CommandRejected("request_id contains control characters or lone surrogates")
    return value


def _reject_constant(name: str):
    raise ValueError(f"{name} is not JSON")
