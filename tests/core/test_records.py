"""Payload records: time format, payload shape, and agreement with the shipped JSON Schemas."""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime, timezone
from pathlib import Path

import jsonschema
import pytest
from hypothesis import given
from hypothesis import strategies as st

from roomscribe.core.records import Event, Partial, StateMessage, Utterance, encode, from_iso_utc, iso_utc

SCHEMAS = Path(__file__).resolve().parents[2] / "daemon" / "roomscribe" / "schemas"
T = datetime(2026, 11, 23, 21, 30, 0, 123000, tzinfo=timezone.utc).timestamp()


def check(schema: str, record) -> dict:
    payload = json.loads(encode(record.to_payload()))
    jsonschema.Draft202012Validator(json.loads((SCHEMAS / f"{schema}.schema.json").read_text())).validate(payload)
    return payload


def test_iso_utc_has_milliseconds_and_z():
    assert iso_utc(T) == "2026-11-23T21:30:00.123Z"
    assert iso_utc(0) == "1970-01-01T00:00:00.000Z"


def test_iso_utc_rounds_to_the_millisecond_without_overflow():
    assert iso_utc(T + 0.0004) == "2026-11-23T21:30:00.123Z"
    assert iso_utc(59.9996) == "1970-01-01T00:01:00.000Z"  # never "00:00:59.1000"


@given(st.floats(min_value=0, max_value=4_102_444_800, allow_nan=False))
def test_iso_utc_round_trips_within_half_a_millisecond(t):
    text = iso_utc(t)
    assert len(text) == 24 and text.endswith("Z")
    assert abs(from_iso_utc(text) - t) <= 0.0005 + 1e-6


def test_utterance_payload_matches_schema():
    u = Utterance("m-1", 3, "Guest-2", 1, "Hello, “world” – ünïcode", T, T + 1.25, 4000, 1250, "en-US", "room-1")
    payload = check("transcript", u)
    assert payload["start"] == "2026-11-23T21:30:00.123Z" and payload["end"] == "2026-11-23T21:30:01.373Z"
    assert payload["event_type"] == "utterance"  # Home Assistant's event entity needs it
    assert payload["text"] == u.text and "ü" in encode(u.to_payload()).decode("utf-8")


def test_partial_state_and_event_payloads_match_schemas():
    check("partial", Partial("m-1", None, "hel", T, "room-1"))
    check("partial", Partial("m-1", "Guest-1", "hello", T, "room-1"))
    check("state", StateMessage("idle", T, None, None, None, "no meeting", "room-1"))
    payload = check("state", StateMessage("paused", T, "m-1", 2, "req-7", "gate closed", "room-1"))
    assert payload["request_id"] == "req-7" and payload["since"].endswith("Z")
    check("event", Event("speaker_epoch_changed", {"previous": 1, "speaker_epoch": 2}, T, "room-1"))
    check("event", Event("command_refused", "pause while idle", T, "room-1", "r1", "warning"))


def test_schemas_refuse_what_records_never_produce():
    state = StateMessage("paused", T, "m-1", 2, "req-7", "", "room-1").to_payload()
    validator = jsonschema.Draft202012Validator(json.loads((SCHEMAS / "state.schema.json").read_text()))
    assert validator.is_valid(state)
    assert not validator.is_valid({**state, "state": "sleeping"})
    assert not validator.is_valid({**state, "since": "yesterday"})
    assert not validator.is_valid({**state, "extra": 1})
    assert not validator.is_valid({k: v for k, v in state.items() if k != "request_id"})


def test_records_are_frozen():
    u = Utterance("m", 1, "Guest-1", 1, "x", T, T, 0, 0, "en-US", "r")
    with pytest.raises(dataclasses.FrozenInstanceError):
        u.text = "changed"  # type: ignore[misc]
