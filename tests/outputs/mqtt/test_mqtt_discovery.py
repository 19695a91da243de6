"""Home Assistant discovery payloads against Home Assistant's own option lists.

Home Assistant drops unknown (e.g. misspelled) keys silently, so every key must be one it knows for
the platform, and every key it requires must be there. The tables below restate the options of Home
Assistant's MQTT platforms (the entity-wide schema plus each platform's own, as of 2025/2026).
"""

from __future__ import annotations

import json
import re

import pytest

import jinja2

from roomscribe.core.names import SpeakerNaming
from roomscribe.outputs.mqtt.commands import Command, parse_command, parse_switch
from roomscribe.outputs.mqtt.discovery import discovery_messages
from roomscribe.outputs.mqtt.topics import Topics
from tests.outputs.mqtt.conftest import validate

ENTITY_COMMON = {
    "availability", "availability_mode", "availability_template", "availability_topic",
    "payload_available", "payload_not_available", "device", "origin", "enabled_by_default",
    "entity_category", "entity_picture", "icon", "json_attributes_topic", "json_attributes_template",
    "object_id", "default_entity_id", "unique_id", "name", "qos", "encoding",
}
PLATFORM_OPTIONS = {
    "switch": {"command_topic", "command_template", "state_topic", "optimistic", "retain", "device_class",
               "payload_on", "payload_off", "state_on", "state_off", "value_template"},
    "button": {"command_topic", "command_template", "device_class", "payload_press", "retain"},
    "sensor": {"state_topic", "device_class", "expire_after", "force_update", "last_reset_value_template",
               "options", "suggested_display_precision", "state_class", "unit_of_measurement", "value_template"},
    "binary_sensor": {"state_topic", "device_class", "expire_after", "force_update", "off_delay",
                      "payload_on", "payload_off", "value_template"},
    "event": {"state_topic", "event_types", "device_class", "value_template"},
    "text": {"command_topic", "command_template", "state_topic", "value_template", "min", "max", "mode", "pattern",
             "retain"},
}
REQUIRED = {
    "switch": {"command_topic"},
    "button": {"command_topic"},
    "sensor": {"state_topic"},
    "binary_sensor": {"state_topic"},
    "event": {"state_topic", "event_types"},
    "text": {"command_topic"},
}
DEVICE_KEYS = {"identifiers", "connections", "manufacturer", "model", "model_id", "name", "hw_version",
               "serial_number", "sw_version", "via_device", "suggested_area", "configuration_url"}
ORIGIN_KEYS = {"name", "sw_version", "support_url"}
AVAILABILITY_ITEM_KEYS = {"topic", "payload_available", "payload_not_available", "value_template"}
TOPIC = re.compile(r"^homeassistant/(?P<component>[a-z_]+)/(?P<object_id>[a-zA-Z0-9_-]+)/config$")


def configs(room: str = "boardroom", base: str = "meeting") -> dict[str, tuple[str, dict]]:
    """unique_id -> (component, config)."""
    out = {}
    for message in discovery_messages(room, Topics(base), "homeassistant"):
        match = TOPIC.match(message.topic)
        assert match, message.topic
        config = json.loads(message.payload)
        assert match["object_id"] == config["unique_id"]  # Home Assistant's advice for entities with a unique_id
        out[config["unique_id"]] = (match["component"], config)
    return out


def test_the_entities_that_the_contract_promises():
    by_kind = {(component, uid.removeprefix("roomscribe_boardroom_")) for uid, (component, _) in configs().items()}
    assert by_kind == {
        ("switch", "paused"), ("button", "start"), ("button", "stop"), ("sensor", "state"),
        ("event", "utterance"), ("binary_sensor", "speech_connection"), ("binary_sensor", "microphone"),
        ("binary_sensor", "sending"), ("sensor", "audio_sent_today"), ("sensor", "outbox_waiting"),
        ("sensor", "audio_overflows"), ("sensor", "audio_waiting"), ("binary_sensor", "storage"),
        ("sensor", "last_utterance"), ("sensor", "last_meeting"),
        *(("text", f"speaker_{n}_name") for n in range(1, 9)),
    }


@pytest.mark.parametrize("unique_id", sorted(configs()))
def test_every_key_is_known_to_home_assistant_and_required_keys_are_present(unique_id):
    component, config = configs()[unique_id]
    unknown = set(config) - ENTITY_COMMON - PLATFORM_OPTIONS[component]
    assert not unknown, f"{component} would silently ignore {unknown}"
    assert REQUIRED[component] <= set(config)
    assert config["device"]["identifiers"] and set(config["device"]) <= DEVICE_KEYS
    assert config["origin"]["name"] and set(config["origin"]) <= ORIGIN_KEYS
    assert config["availability"][0]["topic"] == "meeting/availability"  # the device's, first, for every entity
    for item in config["availability"]:
        assert set(item) <= AVAILABILITY_ITEM_KEYS
    if len(config["availability"]) > 1:  # a condition of its own besides it: both must hold
        assert config["availability_mode"] == "all"
    assert config["default_entity_id"] == f"{component}.{unique_id}"
    assert "boardroom" in config["unique_id"]


def test_ids_differ_between_rooms_and_topics_follow_the_base_topic():
    a, b = configs("room-a", "floor1/room-a"), configs("room-b", "floor1/room-b")
    assert not set(a) & set(b)
    for component, config in a.values():
        for key in ("state_topic", "command_topic"):
            if key in config:
                assert config[key].startswith("floor1/room-a/")


def test_the_switch_commands_pause_and_resume_and_shows_the_true_state():
    _, switch = configs()["roomscribe_boardroom_paused"]
    assert switch["command_topic"] == "meeting/paused/set"
    assert parse_switch(switch["payload_on"].encode()) == Command("pause")
    assert parse_switch(switch["payload_off"].encode()) == Command("resume")
    assert switch["state_topic"] == "meeting/state"
    assert "value_json.state == 'paused'" in switch["value_template"]
    assert {switch["state_on"], switch["state_off"]} == {"ON", "OFF"}


def test_buttons_press_with_a_valid_command_payload():
    for name in ("start", "stop"):
        _, button = configs()[f"roomscribe_boardroom_{name}"]
        assert button["command_topic"] == f"meeting/{name}"
        assert parse_command(name, button["payload_press"].encode()) == Command(name)


def test_utterances_go_to_an_event_entity_whose_type_the_transcript_carries():
    _, event = configs()["roomscribe_boardroom_utterance"]
    assert event["state_topic"] == "meeting/transcript"
    assert event["event_types"] == ["utterance"]  # the transcript payload's event_type


def test_the_speech_connection_is_a_diagnostic_connectivity_sensor_on_only_while_the_service_answers():
    from jinja2 import Environment

    _, sensor = configs()["roomscribe_boardroom_speech_connection"]
    assert sensor["entity_category"] == "diagnostic" and sensor["device_class"] == "connectivity"
    assert (sensor["payload_on"], sensor["payload_off"]) == ("ON", "OFF")
    template = Environment().from_string(sensor["value_template"])
    assert [template.render(value=v) for v in ("connected", "stalled", "disconnected")] == ["ON", "OFF", "OFF"]
    assert sensor["json_attributes_topic"] == "meeting/state"
    attributes = Environment().from_string(sensor["json_attributes_template"].replace("| tojson", ""))
    assert "stalled" in attributes.render(value_json={"reason": "stalled", "detail": "the service stopped answering"})


def test_the_state_sensor_is_an_enum_of_every_state_and_the_device_suggests_the_room_as_area():
    from roomscribe.core.table import State

    _, sensor = configs()["roomscribe_boardroom_state"]
    assert sensor["device_class"] == "enum" and sensor["options"] == [s.value for s in State]
    assert sensor["device"]["suggested_area"] == "Boardroom"


@pytest.mark.parametrize("status, shown", [("flowing", "OFF"), ("waiting", "ON"), ("lost", "ON"), ("ended", "ON")])
def test_the_microphone_problem_sensor_is_on_whenever_audio_does_not_flow(status, shown):
    import jinja2

    _, sensor = configs()["roomscribe_boardroom_microphone"]
    assert sensor["device_class"] == "problem" and sensor["entity_category"] == "diagnostic"
    state = {"state": "no_audio", "audio": {"status": status, "detail": "capture device 0: 'USB'"}}
    assert jinja2.Template(sensor["value_template"]).render(value_json=state) == shown
    assert sensor["payload_on"] == "ON" and sensor["payload_off"] == "OFF"


@pytest.mark.parametrize("storage, shown", [({"status": "ok", "detail": ""}, "OFF"),
                                            ({"status": "failing", "detail": "database or disk is full"}, "ON"),
                                            (None, "OFF")])
def test_the_storage_problem_sensor_follows_the_state_and_reads_an_older_state_as_fine(storage, shown):
    from roomscribe.core.records import StateMessage

    _, sensor = configs()["roomscribe_boardroom_storage"]
    assert sensor["device_class"] == "problem" and sensor["entity_category"] == "diagnostic"
    assert sensor["state_topic"] == sensor["json_attributes_topic"] == "meeting/state"
    state = StateMessage("transcribing", 1.7e9, "m1", 1, None, "", "boardroom").to_payload()
    if storage is None:  # a retained state of a roomscribe before the journal
        del state["storage"]
    else:
        state["storage"] = storage
        validate("state", json.dumps(state).encode())
    assert _render(sensor["value_template"], state) == shown
    assert json.loads(_render(sensor["json_attributes_template"], state)) == (storage or {})


def test_the_audio_entities_read_the_stats_topic():
    import jinja2

    from roomscribe.core.records import AudioStats

    stats = AudioStats(sending=True, sent_today_s=754.2, sent_meeting_s=120.0, audio_overflows=2, at=1.7e9,
                       room="boardroom").to_payload(outbox_waiting=3)
    validate("stats", json.dumps(stats).encode())
    shown = {}
    for key in ("sending", "audio_sent_today", "outbox_waiting", "audio_overflows"):
        _, config = configs()[f"roomscribe_boardroom_{key}"]
        assert config["state_topic"] == "meeting/stats"
        shown[key] = jinja2.Template(config["value_template"]).render(value_json=stats)
    assert shown == {"sending": "ON", "audio_sent_today": "12.57", "outbox_waiting": "3", "audio_overflows": "2"}
    _, today = configs()["roomscribe_boardroom_audio_sent_today"]
    assert (today["unit_of_measurement"], today["state_class"], today["entity_category"]) == ("min", "total_increasing", "diagnostic")


def _render(template: str, payload: dict) -> str:
    """A value_template as Home Assistant renders it: Jinja2, sandboxed, `value_json` the parsed payload."""
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    return ImmutableSandboxedEnvironment().from_string(template).render(value_json=payload)


@pytest.mark.parametrize("text", ["Short.", "x" * 300, "Zähler ✓ 東京 🎉 " * 40, "a" * 246, "a" * 247])
def test_the_last_utterance_sensor_keeps_its_state_within_the_state_limit(text):
    from roomscribe.core.records import Utterance

    _, sensor = configs()["roomscribe_boardroom_last_utterance"]
    payload = Utterance("m", 1, "Guest-2", 1, text, 1.0, 2.0, 0, 1000, "en-US", "boardroom").to_payload()
    state = _render(sensor["value_template"], payload)
    assert len(state) <= 255  # MAX_LENGTH_STATE_STATE: Home Assistant refuses a longer state
    assert state == f"Guest-2: {text}"[:255]
    named = {**payload, "speaker_name": "Jessie Irwin"}
    assert _render(sensor["value_template"], named) == f"Jessie Irwin: {text}"[:255]
    del payload["speaker_name"]  # a transcript of a roomscribe before names
    assert _render(sensor["value_template"], payload) == f"Guest-2: {text}"[:255]
    # The whole record (the text uncut) is the entity's attributes: the transcript payload itself.
    assert sensor["json_attributes_topic"] == sensor["state_topic"] == "meeting/transcript"


def test_the_last_meeting_sensor_is_the_end_time_with_the_summary_as_attributes():
    _, sensor = configs()["roomscribe_boardroom_last_meeting"]
    assert sensor["state_topic"] == sensor["json_attributes_topic"] == "meeting/meeting"
    assert sensor["device_class"] == "timestamp"
    assert _render(sensor["value_template"], {"end": "2026-11-23T09:35:40.000Z"}) == "2026-11-23T09:35:40.000Z"


# -- naming the voices: a text entity per label of the current speaker epoch ---------------------------------


def speakers_map(epoch: int | None, *voices: tuple[int, str, str | None]) -> dict:
    from roomscribe.core.records import SpeakerMap

    payload = SpeakerMap("boardroom", "m1" if epoch else None, epoch, tuple(voices)).to_payload()
    validate("speakers", json.dumps(payload).encode())
    return payload


@pytest.mark.parametrize("number", [1, 2, 8])
def test_each_text_entity_shows_and_sets_the_name_of_its_label_in_the_current_epoch(number):
    label = f"Guest-{number}"
    _, text = configs()[f"roomscribe_boardroom_speaker_{number}_name"]
    assert text["command_topic"] == "meeting/speakers/set" and text["state_topic"] == "meeting/speakers"
    assert (text["min"], text["max"], text["mode"]) == (0, 100, "text")
    availability = text["availability"][1]
    assert availability["topic"] == "meeting/speakers" and text["availability_mode"] == "all"

    def shown(payload: dict) -> tuple[str, str]:
        return _render(text["value_template"], payload), _render(availability["value_template"], payload)

    # No meeting, or the label not heard in the current epoch: unavailable (it cannot be named), empty.
    assert shown(speakers_map(None)) == ("", "offline")
    assert shown(speakers_map(2, (1, label, "Old name"))) == ("", "offline")  # epoch 1's voice is not epoch 2's
    assert shown(speakers_map(2, (2, label, None), (2, "Guest-99", "X"))) == ("", "online")
    named = speakers_map(2, (1, label, "Old name"), (2, label, "Zähler ✓ 東京"))
    assert shown(named) == ("Zähler ✓ 東京", "online")
    # What Home Assistant sends when someone types, or clears the field: a valid speakers/set payload.
    command = jinja2.Template(text["command_template"])
    assert parse_command("name", command.render(value="  Jessie Irwin ").encode()) == \
        SpeakerNaming(label, "Jessie Irwin")
    for cleared in ("", "   "):
        payload = command.render(value=cleared).encode()
        validate("speakers_set", payload)
        assert parse_command("name", payload) == SpeakerNaming(label, None)  # null takes the name away
    quoted = command.render(value='Ann "the boss" O\'Neil').encode()
    validate("speakers_set", quoted)
    assert parse_command("name", quoted).name == 'Ann "the boss" O\'Neil'
