"""The one parser of inbound JSON payloads: commands, the room's phrase list, catch-up requests, the state
found on connect. Strict and bounded, and raising nothing but `PayloadRejected`.

Every payload is measured before anything is decoded; then it must be UTF-8 and JSON (`NaN` and
`Infinity` are not JSON, nesting deep enough to exhaust the recursion limit is refused too). An object
may carry only the keys its caller names; identifiers such as `request_id` are strings of 1 to 128
characters without control characters or lone surrogates (they are echoed in answers and logs). The
reasons are what the link publishes in a `command_refused` event and catch-up in a `bad_request` answer.
"""

from __future__ import annotations

import json
import re
from typing import Any, Iterable

MAX_PAYLOAD_BYTES = 4096
MAX_ID_CHARS = 128
JSON_WHITESPACE = b" \t\r\n"
# Control characters would garble logs; lone surrogates cannot be encoded back to UTF-8 for the echo.
_FORBIDDEN_IN_ID = re.compile("[\u0000-\u001f\u007f\ud800-\udfff]")


class PayloadRejected(ValueError):
    """An inbound payload that is refused, and why; with its request_id when it was readable enough."""

    def __init__(self, reason: str, request_id: str | None = None):
        super().__init__(reason)
        self.reason = reason
        self.request_id = request_id


def is_empty(payload: bytes) -> bool:
    return not payload.strip(JSON_WHITESPACE)


def check_size(payload: bytes, limit: int = MAX_PAYLOAD_BYTES) -> None:
    if len(payload) > limit:
        raise PayloadRejected(f"payload too large: {len(payload)} bytes, at most {limit}")


def parse_json(payload: bytes, *, limit: int = MAX_PAYLOAD_BYTES) -> Any:
    """The JSON document in a payload that must hold one."""
    check_size(payload, limit)
    if is_empty(payload):
        raise PayloadRejected("payload is empty: send JSON")
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        raise PayloadRejected("payload is not UTF-8") from None
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        raise PayloadRejected("payload is neither empty nor JSON") from None


def parse_object(payload: bytes, keys: Iterable[str], *, limit: int = MAX_PAYLOAD_BYTES) -> tuple[dict, str | None]:
    """A JSON object with no keys but `keys` and `request_id`: the object and its request_id."""
    document = parse_json(payload, limit=limit)
    if not isinstance(document, dict):
        raise PayloadRejected(f"payload must be a JSON object, not {type(document).__name__}")
    return document, known_keys(document, keys)


def known_keys(document: dict, keys: Iterable[str]) -> str | None:
    """The object's request_id, once it is checked and the object has no keys but `keys` and request_id."""
    request_id = identifier(document, "request_id")
    unknown = sorted(set(document) - {"request_id", *keys})
    if unknown:
        raise PayloadRejected(f"unknown keys: {', '.join(map(repr, unknown))[:200]}", request_id)
    return request_id


def identifier(document: dict, key: str, default: str | None = None, *, request_id: str | None = None) -> str | None:
    """A string of 1 to 128 characters without control characters, or `default` when absent. A refusal
    carries `request_id` (the request's, already read)."""
    if key not in document:
        return default
    value = document[key]
    if not isinstance(value, str):
        raise PayloadRejected(f"{key} must be a string, not {type(value).__name__}", request_id)
    if not 1 <= len(value) <= MAX_ID_CHARS:
        raise PayloadRejected(f"{key} must have 1 to {MAX_ID_CHARS} characters", request_id)
    if _FORBIDDEN_IN_ID.search(value):
        raise PayloadRejected(f"{key} contains control characters or lone surrogates", request_id)
    return value


def _reject_constant(name: str):
    raise ValueError(f"{name} is not JSON")
