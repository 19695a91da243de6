"""Parsing command payloads: pure, strict, and never raising anything but CommandRejected.

A command payload is empty, or a JSON object that may carry `request_id` (schemas/command.schema.json),
and `phrases` on start. The room's phrase list (`<base>/phrases/set`) is a JSON array of phrases or an
object with `phrases` and `request_id` (schemas/phrases_set.schema.json). A name for a voice
(`<base>/speakers/set`) is an object with `speaker` and `name`, and optionally `meeting_id`,
`speaker_epoch` and `request_id` (schemas/speakers_set.schema.json; the rules in core/names.py). The JSON
itself is read by the one parser of inbound payloads (payloads.py). Everything else is refused with a reason
the link publishes on `<base>/event`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

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
from roomscribe.outputs.mqtt.payloads import (
    JSON_WHITESPACE,
    MAX_PAYLOAD_BYTES,
    PayloadRejected,
    check_size,
    is_empty,
    known_keys,
    parse_json,
    parse_object,
)
from roomscribe.outputs.mqtt.topics import SWITCH_OFF, SWITCH_ON

CommandName = str  # one of core.commands.COMMANDS
COMMAND_NAMES: tuple[CommandName, ...] = COMMANDS

MAX_COMMAND_BYTES = MAX_PAYLOAD_BYTES
# The room's whole list (phrases/set): 500 phrases of 100 characters, and JSON's quotes. A start's phrases
# (a meeting's attendees, its subject's words) stay within the 4 KiB of every command.
MAX_PHRASES_BYTES = 64 * 1024

# A refused command payload (the name the command path and the page have always caught).
CommandRejected = PayloadRejected


@dataclass(frozen=True, slots=True)
class Command:
    name: CommandName
    request_id: str | None = None
    phrases: tuple[str, ...] | None = None  # start: the meeting's phrase list; phrases: the room's

    @property
    def command(self) -> CommandName:
        """The command's name, as core.names.SpeakerNaming says its own."""
        return self.name


# What a command channel (the link's worker, the page) hands the owner (Daemon.on_command): a command, or a
# name for a voice.
OwnerCommand = Command | SpeakerNaming
OnCommand = Callable[[OwnerCommand], None]


def parse_command(name: str, payload: bytes) -> Command | SpeakerNaming:
    if name == PHRASES:
        return parse_phrases(payload)
    if name == NAME:
        return parse_naming(payload)
    if name not in COMMAND_NAMES:
        raise CommandRejected(f"unknown command {name!r}")
    if is_empty(payload):
        check_size(payload)
        return Command(name)
    document, request_id = parse_object(payload, BY_NAME[name].options)
    return Command(name, request_id, _phrases(document["phrases"], request_id) if "phrases" in document else None)


def parse_phrases(payload: bytes) -> Command:
    """`<base>/phrases/set`: the room's new list, `["Contoso", …]` or `{"phrases": […], "request_id": …}`."""
    document = parse_json(payload, limit=MAX_PHRASES_BYTES)
    if isinstance(document, list):
        return Command(PHRASES, None, _phrases(document, None))
    if not isinstance(document, dict):
        raise CommandRejected(f"payload must be a JSON array of phrases or an object with 'phrases', "
                              f"not {type(document).__name__}")
    request_id = known_keys(document, {"phrases"})
    if "phrases" not in document:
        raise CommandRejected("no 'phrases': send the room's new list ([] clears it)", request_id)
    return Command(PHRASES, request_id, _phrases(document["phrases"], request_id))


_NAMING_KEYS = {"speaker", "name", "meeting_id", "speaker_epoch"}


def parse_naming(payload: bytes) -> SpeakerNaming:
    """`<base>/speakers/set`: `{"speaker": "Guest-1", "name": "Alice"}` (null removes the name), with optional
    `meeting_id`, `speaker_epoch` and `request_id`."""
    document = parse_json(payload)
    if not isinstance(document, dict):
        raise CommandRejected(f"payload must be a JSON object with 'speaker' and 'name', not {type(document).__name__}")
    request_id = known_keys(document, _NAMING_KEYS)
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


def _phrases(value, request_id: str | None) -> tuple[str, ...]:
    try:
        return check_phrases(value)
    except PhraseError as exc:
        raise CommandRejected(str(exc), request_id) from None


def parse_switch(payload: bytes) -> Command:
    """Home Assistant's switch: ON pauses, OFF resumes."""
    value = payload.strip(JSON_WHITESPACE)
    if value == SWITCH_ON.encode():
        return Command("pause")
    if value == SWITCH_OFF.encode():
        return Command("resume")
    raise CommandRejected(f"expected {SWITCH_ON} or {SWITCH_OFF}")
