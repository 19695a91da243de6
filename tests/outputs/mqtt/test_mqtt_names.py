"""Names for the voices over MQTT: `<base>/speakers/set` parsed strictly (the shipped schema as the oracle),
routed by the link to the owner or refused on `<base>/event`, and the running meeting's map retained on
`<base>/speakers` through a real Mosquitto. What the daemon does with a name is in tests/app/test_owner_names.py
and, end to end, tests/app/test_daemon_names.py."""

from __future__ import annotations

import json

import jsonschema
import pytest

from roomscribe.core.names import MAX_NAME_CHARS, SpeakerNaming
from roomscribe.core.records import SpeakerMap
from roomscribe.outputs.mqtt.commands import MAX_COMMAND_BYTES, CommandRejected, parse_command
from roomscribe.outputs.mqtt.topics import Topics
from tests.outputs.mqtt.conftest import ROOM, load_schema, make_settings, validate
from tests.support.mosquitto import Recorder

SPEAKERS_SET = jsonschema.Draft202012Validator(load_schema("speakers_set"))


@pytest.mark.parametrize("payload, parsed", [
    ({"speaker": "Guest-1", "name": "Alice"}, SpeakerNaming("Guest-1", "Alice")),
    ({"speaker": "Guest-2", "name": "  Jessie Irwin  ", "request_id": "ha-1"}, SpeakerNaming("Guest-2", "Jessie Irwin",
                                                                                              request_id="ha-1")),
    ({"speaker": "Guest-1", "name": None, "meeting_id": "last", "speaker_epoch": 2},
     SpeakerNaming("Guest-1", None, meeting_id="last", speaker_epoch=2)),
    ({"speaker": "Guest-1", "name": "Zähler ✓ 東京 🎉", "speaker_epoch": 2.0},
     SpeakerNaming("Guest-1", "Zähler ✓ 東京 🎉", speaker_epoch=2)),
    ({"speaker": "Guest-1", "name": "x" * MAX_NAME_CHARS}, SpeakerNaming("Guest-1", "x" * MAX_NAME_CHARS)),
])
def test_a_name_is_parsed_and_the_schema_agrees(payload, parsed):
    raw = json.dumps(payload).encode()
    assert parse_command("name", raw) == parsed
    assert SPEAKERS_SET.is_valid(json.loads(raw))


BAD = {
    "empty name": ({"speaker": "Guest-1", "name": ""}, "name is empty"),
    "blank name": ({"speaker": "Guest-1", "name": " \t "}, "name is empty"),
    "too long": ({"speaker": "Guest-1", "name": "x" * (MAX_NAME_CHARS + 1)}, f"at most {MAX_NAME_CHARS}"),
    "line break": ({"speaker": "Guest-1", "name": "Alice\nBob"}, "control characters"),
    "escape": ({"speaker": "Guest-1", "name": "Alice\u001b[31m"}, "control characters"),
    "C1 control": ({"speaker": "Guest-1", "name": "Ali\u0085ce"}, "control characters"),
    "line separator": ({"speaker": "Guest-1", "name": "Alice\u2028Bob"}, "control characters"),
    "not a string": ({"speaker": "Guest-1", "name": 7}, "name must be a string"),
    "no name": ({"speaker": "Guest-1"}, "no 'name'"),
    "no speaker": ({"name": "Alice"}, "no 'speaker'"),
    "empty speaker": ({"speaker": "", "name": "Alice"}, "speaker must be a label"),
    "speaker with control": ({"speaker": "Guest-1\u0000", "name": "Alice"}, "control characters"),
    "unattributed": ({"speaker": "Unknown", "name": "Alice"}, "Unknown is no voice"),
    "epoch zero": ({"speaker": "Guest-1", "name": "Alice", "speaker_epoch": 0}, "speaker_epoch"),
    "epoch text": ({"speaker": "Guest-1", "name": "Alice", "speaker_epoch": "1"}, "speaker_epoch"),
    "epoch bool": ({"speaker": "Guest-1", "name": "Alice", "speaker_epoch": True}, "speaker_epoch"),
    "meeting empty": ({"speaker": "Guest-1", "name": "Alice", "meeting_id": ""}, "meeting_id"),
    "meeting number": ({"speaker": "Guest-1", "name": "Alice", "meeting_id": 7}, "meeting_id"),
    "unknown key": ({"speaker": "Guest-1", "name": "Alice", "names": ["x"]}, "unknown keys"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_is_refused_with_a_reason_and_its_request_id(case):
    payload, reason = BAD[case]
    raw = json.dumps({**payload, "request_id": "n-7"}).encode()
    with pytest.raises(CommandRejected) as caught:
        parse_command("name", raw)
    assert reason in caught.value.reason and caught.value.request_id == "n-7"
    if case != "unattributed":  # the schema cannot know that label is no voice
        assert not SPEAKERS_SET.is_valid(json.loads(raw))


@pytest.mark.parametrize("payload, reason", [
    (b"", "empty"), (b"Alice", "neither empty nor JSON"), (b'["Guest-1", "Alice"]', "JSON object"),
    (b"\xff", "not UTF-8"), (b" " * (MAX_COMMAND_BYTES + 1), "too large"),
])
def test_bad_payloads(payload, reason):
    with pytest.raises(CommandRejected) as caught:
        parse_command("name", payload)
    assert reason in caught.value.reason


def test_the_topics():
    assert Topics("rooms/boardroom").speakers_set == "rooms/boardroom/speakers/set"
    assert Topics("rooms/boardroom").speakers == "rooms/boardroom/speakers"


def test_the_link_routes_names_to_the_owner_refuses_bad_ones_and_retains_the_running_meetings_map(
        mosquitto, tmp_path, links):
    link = links(make_settings(mosquitto, tmp_path)).start()
    link.wait_connected()
    topics = link.link.topics
    rec = Recorder(mosquitto, [topics.event, topics.speakers])
    try:
        rec.publish(topics.speakers_set, json.dumps({"speaker": "Guest-1", "name": "Alice", "request_id": "n-1"}))
        rec.publish(topics.speakers_set, json.dumps({"speaker": "Guest-1", "name": "", "request_id": "n-2"}))
        rec.publish(topics.speakers_set, json.dumps({"speaker": "Guest-2", "name": None, "meeting_id": "last"}))
        rec.publish(topics.speakers_set, b"Guest-1=Eve")
        rec.wait_for(lambda: len(rec.on(topics.event)) >= 2, 10, "two refusals")
        assert link.commands == [SpeakerNaming("Guest-1", "Alice", request_id="n-1"),
                                 SpeakerNaming("Guest-2", None, meeting_id="last")]
        refusals = rec.json_on(topics.event)
        for raw in rec.on(topics.event):
            validate("event", raw.payload)
        assert [(e["kind"], e["request_id"], e["detail"]["command"], e["detail"]["topic"]) for e in refusals] == [
            ("command_refused", "n-2", "name", topics.speakers_set),
            ("command_refused", None, "name", topics.speakers_set)]
        assert "name is empty" in refusals[0]["detail"]["reason"] and "JSON" in refusals[1]["detail"]["reason"]

        link.link.publish_speakers(SpeakerMap(ROOM, "m-1", 1, ((1, "Guest-1", "Alice"), (1, "Guest-2", None))))
        link.link.publish_speakers(SpeakerMap(ROOM, "m-0", None, ((1, "Guest-1", "Zed"),), running=False))
        first = rec.wait_for(lambda: rec.on(topics.speakers), 10, "the map")[0]
        validate("speakers", first.payload)
        assert first.json() == {"room": ROOM, "meeting_id": "m-1", "speaker_epoch": 1, "speakers": [
            {"speaker_epoch": 1, "speaker": "Guest-1", "name": "Alice"},
            {"speaker_epoch": 1, "speaker": "Guest-2", "name": None}]}
        late = Recorder(mosquitto, [topics.speakers])  # a client that comes later gets it: retained
        try:
            [kept] = late.wait_for(lambda: late.on(topics.speakers), 10, "the retained map")
            assert kept.retain and kept.json()["meeting_id"] == "m-1"  # a past meeting's names never replace it
        finally:
            late.close()
    finally:
        rec.close()
