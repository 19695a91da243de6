"""Parsing command payloads: pure, strict, and never raising anything but CommandRejected.

A command payload is empty, or a JSON object that may carry `request_id` (schemas/command.schema.json).
Everything else is refused with a reason the link publishes on `<base>/event`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from roomscribe.core.commands import COMMANDS
from roomscribe.outputs.mqtt.topics import SWITCH_OFF, SWITCH_ON

CommandName = str  # one of core.commands.COMMANDS
COMMAND_NAMES: tuple[CommandName, ...] = COMMANDS

MAX_COMMAND_BYTES = 4096
MAX_REQUEST_ID_CHARS = 128
_JSON_WHITESPACE = b" \t\r\n"
# Control characters would garble logs; lone surrogates cannot be encoded back to UTF-8 for the echo.
_FORBIDDEN_IN_REQUEST_ID = re.compile("[\u0000-\u001f\u007f\ud800-\udfff]")


@dataclass(frozen=True, slots=True)
class Command:
    name: CommandName
    request_id: str | None = None


class CommandRejected(ValueError):
    def __init__(self, reason: str, request_id: str | None = None):
        super().__init__(reason)
        self.reason = reason
        self.request_id = request_id  # when the payload was readable enough to carry one


def parse_command(name: str, payload: bytes) -> Command:
    if name not in COMMAND_NAMES:
        raise CommandRejected(f"unknown command {name!r}")
    if len(payload) > MAX_COMMAND_BYTES:
        raise CommandRejected(f"payload too large: {len(payload)} bytes, at most {MAX_COMMAND_BYTES}")
    if not payload.strip(_JSON_WHITESPACE):
        return Command(name)
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        raise CommandRejected("payload is not UTF-8") from None
    try:
        document = json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        raise CommandRejected("payload is neither empty nor JSON") from None
    if not isinstance(document, dict):
        raise CommandRejected(f"payload must be a JSON object, not {type(document).__name__}")
    request_id = _request_id(document)
    unknown = sorted(set(document) - {"request_id"})
    if unknown:
        raise CommandRejected(f"unknown keys: {', '.join(map(repr, unknown))[:200]}", request_id)
    return Command(name, request_id)


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
