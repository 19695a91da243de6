"""Command payload parsing: pure. The shipped command schema is the oracle for what is valid."""

from __future__ import annotations

import json

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from roomscribe.outputs.mqtt.commands import (
    MAX_COMMAND_BYTES,
    Command,
    CommandRejected,
    parse_command,
    parse_switch,
)
from tests.outputs.mqtt.conftest import load_schema

VALIDATOR = jsonschema.Draft202012Validator(load_schema("command"))


def valid_by_schema(payload: bytes) -> bool:
    """Independent of the parser: empty (JSON whitespace only), or UTF-8 JSON valid against the schema."""
    if len(payload) > MAX_COMMAND_BYTES:
        return False
    if payload.strip(b" \t\r\n") == b"":
        return True
    try:
        document = json.loads(payload.decode("utf-8"), parse_constant=lambda name: 1 / 0)
    except (UnicodeDecodeError, ValueError, ZeroDivisionError, RecursionError):
        return False
    return VALIDATOR.is_valid(document)


@pytest.mark.parametrize("name", ["start", "stop", "pause", "resume"])
def test_empty_and_json_payloads(name):
    assert parse_command(name, b"") == Command(name, None)
    assert parse_command(name, b" \n") == Command(name, None)
    assert parse_command(name, b"{}") == Command(name, None)
    assert parse_command(name, b'{"request_id": "abc-1"}') == Command(name, "abc-1")
    assert parse_command(name, '{"request_id": "zähler ✓"}'.encode()) == Command(name, "zähler ✓")


@pytest.mark.parametrize(
    "payload, reason",
    [
        (b"\xff\xfe", "not UTF-8"),
        (b"pause", "neither empty nor JSON"),
        (b"[]", "must be a JSON object"),
        (b'"x"', "must be a JSON object"),
        (b"null", "must be a JSON object"),
        (b"NaN", "neither empty nor JSON"),
        (b'{"request_id": 5}', "must be a string"),
        (b'{"request_id": ""}', "1 to 128"),
        (b'{"request_id": "' + b"x" * 129 + b'"}', "1 to 128"),
        (b'{"request_id": "a\\nb"}', "control characters"),
        (b'{"request_id": "\\ud800"}', "lone surrogates"),
        (b'{"request_id": "a", "force": true}', "unknown keys"),
        (b"{" * 3000, "neither empty nor JSON"),
        (b" " * (MAX_COMMAND_BYTES + 1), "too large"),
    ],
)
def test_bad_payloads_are_rejected_with_a_reason(payload, reason):
    with pytest.raises(CommandRejected) as caught:
        parse_command("pause", payload)
    assert reason in caught.value.reason
    assert not valid_by_schema(payload)


def test_a_rejected_payload_keeps_a_readable_request_id():
    with pytest.raises(CommandRejected) as caught:
        parse_command("pause", b'{"request_id": "r-9", "until": 5}')
    assert caught.value.request_id == "r-9"


def test_unknown_command_name():
    with pytest.raises(CommandRejected):
        parse_command("reboot", b"")


def test_switch_payloads():
    assert parse_switch(b"ON") == Command("pause")
    assert parse_switch(b"OFF\n") == Command("resume")
    for bad in (b"on", b"", b"TOGGLE", b"\xff", b'{"state": "ON"}'):
        with pytest.raises(CommandRejected):
            parse_switch(bad)


def _json_like() -> st.SearchStrategy[bytes]:
    leaves = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20)
    values = st.recursive(leaves, lambda kids: st.lists(kids, max_size=3) | st.dictionaries(st.text(max_size=8), kids, max_size=3), max_leaves=5)
    objects = st.dictionaries(
        st.sampled_from(["request_id", "requestId", "id", "", "request_id "]) | st.text(max_size=12),
        values | st.text(max_size=140),
        max_size=3,
    )
    return (objects | values).map(lambda doc: json.dumps(doc, ensure_ascii=bool(len(str(doc)) % 2)).encode())


def _around_the_size_limit() -> st.SearchStrategy[bytes]:
    """Payloads near 4 KiB, built by repetition: drawing 4 KiB of random bytes is slow."""
    return st.tuples(st.binary(min_size=1, max_size=8), st.integers(MAX_COMMAND_BYTES - 8, MAX_COMMAND_BYTES + 8)).map(
        lambda t: (t[0] * (t[1] // len(t[0]) + 1))[: t[1]]
    ) | st.integers(MAX_COMMAND_BYTES - 40, MAX_COMMAND_BYTES + 8).map(
        lambda n: b'{"request_id": "' + b"x" * 100 + b'"' + b" " * max(0, n - 120) + b"}"
    )


MALFORMED = st.one_of(
    st.binary(max_size=64),
    _around_the_size_limit(),
    st.text(max_size=64).map(lambda s: s.encode("utf-8", "surrogatepass")),
    _json_like(),
)
PAYLOADS = MALFORMED | st.builds(lambda rid: json.dumps({"request_id": rid}).encode(), st.text(max_size=140))


@settings(max_examples=1_000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(PAYLOADS)
def test_parser_agrees_with_the_schema_on_random_payloads(payload):
    try:
        command = parse_command("resume", payload)
    except CommandRejected as exc:
        assert exc.reason
        assert not valid_by_schema(payload), f"refused a valid payload: {exc.reason}"
    else:
        assert valid_by_schema(payload), "accepted a payload the schema refuses"
        assert command.name == "resume"
        if command.request_id is not None:
            assert json.loads(payload)["request_id"] == command.request_id
