"""Home Assistant MQTT discovery: one retained config message per entity (docs/mqtt.md).

Full key names (no abbreviations) so a reader can check them against Home Assistant's documentation;
Home Assistant drops unknown keys silently, which is why a test holds them against its key lists.
Every entity has a `unique_id` that includes the room, so two rooms never collide and the `device`
block is honoured (Home Assistant ignores it on entities without a unique_id).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from roomscribe import __version__
from roomscribe.core.records import UTTERANCE_EVENT_TYPE, encode
from roomscribe.core.table import State
from roomscribe.outputs.mqtt.topics import (
    AVAILABLE,
    NOT_AVAILABLE,
    SPEECH_CONNECTED,
    SWITCH_OFF,
    SWITCH_ON,
    Topics,
)

# Buttons press with an empty JSON object: a valid command payload (the default "PRESS" is not).
BUTTON_PAYLOAD = "{}"


@dataclass(frozen=True)
class DiscoveryMessage:
    topic: str
    payload: bytes


def entity_prefix(room: str) -> str:
    return f"roomscribe_{room}"


def home_assistant_status_topic(discovery_prefix: str) -> str:
    """Home Assistant announces itself here with `online` (not retained) whenever it (re)connects."""
    return f"{discovery_prefix}/status"


def discovery_messages(room: str, topics: Topics, discovery_prefix: str) -> list[DiscoveryMessage]:
    device = {
        "identifiers": [entity_prefix(room)],
        "name": f"roomscribe {room}",
        "manufacturer": "roomscribe",
        "model": "meeting transcriber",
        "sw_version": __version__,
        # Home Assistant offers this area when the device is first added: the room's name, made readable.
        "suggested_area": room.replace("_", " ").replace("-", " ").strip().title() or room,
    }
    origin = {"name": "roomscribe", "sw_version": __version__}
    availability = [
        {"topic": topics.availability, "payload_available": AVAILABLE, "payload_not_available": NOT_AVAILABLE}
    ]
    entities: list[tuple[str, str, dict[str, Any]]] = [
        (
            "switch",
            "paused",
            {
                "name": "Paused",
                "icon": "mdi:microphone-off",
                "command_topic": topics.paused_set,
                "payload_on": SWITCH_ON,
                "payload_off": SWITCH_OFF,
                # The switch shows the true state: ON only once the gate is closed.
                "state_topic": topics.state,
                "value_template": f"{{{{ '{SWITCH_ON}' if value_json.state == 'paused' else '{SWITCH_OFF}' }}}}",
                "state_on": SWITCH_ON,
                "state_off": SWITCH_OFF,
                "optimistic": False,
                "retain": False,
                "qos": 1,
            },
        ),
        ("button", "start", _button("Start meeting", "mdi:play", topics.command("start"))),
        ("button", "stop", _button("Stop meeting", "mdi:stop", topics.command("stop"))),
        (
            "sensor",
            "state",
            {
                "name": "State",
                "icon": "mdi:account-voice",
                # An enum sensor: Home Assistant offers exactly these states in automations and history.
                "device_class": "enum",
                "options": [state.value for state in State],
                "state_topic": topics.state,
                "value_template": "{{ value_json.state }}",
                "json_attributes_topic": topics.state,
                "qos": 1,
            },
        ),
        (
            "event",
            "utterance",
            {
                # An event entity, not a sensor: a sensor's state is capped at 255 characters.
                "name": "Utterance",
                "icon": "mdi:text-box-outline",
                "state_topic": topics.transcript,
                "event_types": [UTTERANCE_EVENT_TYPE],
                "qos": 1,
            },
        ),
        (
            "binary_sensor",
            "microphone",
            {
                # A problem while the audio source delivers nothing (missing, not yet delivering, lost
                # or ended): then no state says `transcribing`, and this tells why.
                "name": "Microphone",
                "device_class": "problem",
                "entity_category": "diagnostic",
                "state_topic": topics.state,
                "value_template": "{{ 'OFF' if value_json.audio.status == 'flowing' else 'ON' }}",
                "json_attributes_topic": topics.state,
                "json_attributes_template": "{{ value_json.audio | tojson }}",
                "payload_on": "ON",
                "payload_off": "OFF",
                "qos": 1,
            },
        ),
        (
            "binary_sensor",
            "storage",
            {
                # A problem while the journal cannot store (a full disk, an I/O error): transcripts still go
                # out, records wait in memory. A state published before the sensor existed has no `storage`.
                "name": "Storage",
                "device_class": "problem",
                "entity_category": "diagnostic",
                "state_topic": topics.state,
                "value_template": "{{ 'ON' if (value_json.storage | default({})).status | default('ok') != 'ok' "
                                  "else 'OFF' }}",
                "json_attributes_topic": topics.state,
                "json_attributes_template": "{{ value_json.storage | default({}) | tojson }}",
                "payload_on": "ON",
                "payload_off": "OFF",
                "qos": 1,
            },
        ),
        (
            "binary_sensor",
            "sending",
            {
                # On while speech is being sent to the service (silence suppression lets it through).
                "name": "Sending speech",
                "device_class": "sound",
                "state_topic": topics.stats,
                "value_template": "{{ 'ON' if value_json.sending else 'OFF' }}",
                "payload_on": "ON",
                "payload_off": "OFF",
                "qos": 1,
            },
        ),
        (
            "sensor",
            "audio_sent_today",
            {
                # What Azure bills: audio streamed, per local day.
                "name": "Audio sent today",
                "icon": "mdi:cash-clock",
                "entity_category": "diagnostic",
                "device_class": "duration",
                "unit_of_measurement": "min",
                "state_class": "total_increasing",
                "suggested_display_precision": 1,
                "state_topic": topics.stats,
                "value_template": "{{ (value_json.audio_sent_today_s / 60) | round(2) }}",
                "json_attributes_topic": topics.stats,
                "qos": 1,
            },
        ),
        (
            "sensor",
            "outbox_waiting",
            {
                "name": "Utterances waiting",
                "icon": "mdi:tray-full",
                "entity_category": "diagnostic",
                "state_class": "measurement",
                "state_topic": topics.stats,
                "value_template": "{{ value_json.outbox_waiting }}",
                "qos": 1,
            },
        ),
        (
            "sensor",
            "audio_overflows",
            {
                "name": "Audio overflows",
                "icon": "mdi:waveform",
                "entity_category": "diagnostic",
                "state_class": "total_increasing",
                "state_topic": topics.stats,
                "value_template": "{{ value_json.audio_overflows }}",
                "qos": 1,
            },
        ),
        (
            "binary_sensor",
            "speech_connection",
            {
                # Connected only while the service answers: `stalled` (an open but silent connection) is OFF.
                "name": "Speech service",
                "device_class": "connectivity",
                "entity_category": "diagnostic",
                "state_topic": topics.speech_connection,
                "value_template": f"{{{{ 'ON' if value == '{SPEECH_CONNECTED}' else 'OFF' }}}}",
                "payload_on": "ON",
                "payload_off": "OFF",
                "json_attributes_topic": topics.state,
                "json_attributes_template": "{{ {'reason': value_json.reason, 'detail': value_json.detail} | tojson }}",
                "qos": 1,
            },
        ),
        (
            "sensor",
            "audio_waiting",
            {
                # Captured audio kept in memory while the speech service does not answer, not sent yet.
                "name": "Speech audio waiting",
                "icon": "mdi:timer-sand",
                "entity_category": "diagnostic",
                "device_class": "duration",
                "unit_of_measurement": "s",
                "state_class": "measurement",
                "state_topic": topics.stats,
                "value_template": "{{ value_json.audio_waiting_s | default(0) }}",
                "qos": 1,
            },
        ),
    ]
    entities += record_entities(topics)
    entities += speaker_entities(topics)
    messages = []
    for component, key, options in entities:
        unique_id = f"{entity_prefix(room)}_{key}"
        options = dict(options)
        also = options.pop("availability_also", [])  # a condition of its own besides the device's
        config = {
            **options,
            "unique_id": unique_id,
            # Home Assistant 2025.10 replaced object_id with default_entity_id; older ones read object_id.
            "default_entity_id": f"{component}.{unique_id}",
            "object_id": unique_id,
            "availability": availability + also,
            "device": device,
            "origin": origin,
        }
        messages.append(DiscoveryMessage(f"{discovery_prefix}/{component}/{unique_id}/config", encode(config)))
    return messages


# Home Assistant's cap on an entity's state (MAX_LENGTH_STATE_STATE): a longer state is refused.
HA_STATE_MAX = 255


def record_entities(topics: Topics) -> list[tuple[str, str, dict[str, Any]]]:
    """The meeting record in Home Assistant: the last utterance and the last meeting, as sensors."""
    return [
        (
            "sensor",
            "last_utterance",
            {
                "name": "Last utterance",
                "icon": "mdi:comment-quote-outline",
                "state_topic": topics.transcript,
                # "name: text" ("speaker: text" while the voice has none), cut to the state limit; the whole
                # utterance is in the attributes.
                "value_template": "{{ ((value_json.speaker_name or value_json.speaker) ~ ': ' ~ value_json.text)"
                                  f"[:{HA_STATE_MAX}] }}}}",
                "json_attributes_topic": topics.transcript,
                "qos": 1,
            },
        ),
        (
            "sensor",
            "last_meeting",
            {
                "name": "Last meeting",
                "icon": "mdi:calendar-check",
                "device_class": "timestamp",  # when it ended; id, utterances, speakers … as attributes
                "state_topic": topics.meeting,
                "value_template": "{{ value_json.end }}",
                "json_attributes_topic": topics.meeting,
                "qos": 1,
            },
        ),
    ]


# Voices of the current speaker epoch that Home Assistant can name: Guest-1 … Guest-8, one text entity each.
SPEAKER_ENTITIES = 8
MAX_NAME_CHARS = 100  # core.names.MAX_NAME_CHARS: Home Assistant refuses a longer text before it sends it


def speaker_label(number: int) -> str:
    return f"Guest-{number}"


def speaker_entities(topics: Topics) -> list[tuple[str, str, dict[str, Any]]]:
    """A text entity per label of the running meeting's current speaker epoch (`Guest-1` …): its state is the
    name given (from the retained `<base>/speakers`), setting it names the voice, clearing it takes the name
    away. Available only while that voice has spoken in the current epoch: a label nobody has used yet, or
    no meeting, cannot be named (a new epoch's Guest-1 is someone new, and starts unavailable)."""
    entities = []
    for number in range(1, SPEAKER_ENTITIES + 1):
        label = speaker_label(number)
        voice = (f"value_json.speakers | selectattr('speaker_epoch', 'eq', value_json.speaker_epoch) "
                 f"| selectattr('speaker', 'eq', '{label}')")
        entities.append((
            "text",
            f"speaker_{number}_name",
            {
                "name": f"{label} name",
                "icon": "mdi:account-voice",
                "command_topic": topics.speakers_set,
                # Cleared (empty or blank) takes the name away: the daemon refuses an empty name, and null is
                # how it is told to remove one.
                "command_template": f"{{{{ {{'speaker': '{label}', 'name': (value | trim) or none}} | tojson }}}}",
                "state_topic": topics.speakers,
                "value_template": f"{{{{ ({voice} | map(attribute='name') | select | first) | default('', true) }}}}",
                "availability_also": [{
                    "topic": topics.speakers,
                    "value_template": f"{{{{ '{AVAILABLE}' if ({voice} | list) else '{NOT_AVAILABLE}' }}}}",
                    "payload_available": AVAILABLE,
                    "payload_not_available": NOT_AVAILABLE,
                }],
                "availability_mode": "all",
                "min": 0,
                "max": MAX_NAME_CHARS,
                "mode": "text",
                "retain": False,
                "qos": 1,
            },
        ))
    return entities


def _button(name: str, icon: str, command_topic: str) -> dict[str, Any]:
    return {
        "name": name,
        "icon": icon,
        "command_topic": command_topic,
        "payload_press": BUTTON_PAYLOAD,
        "retain": False,
        "qos": 1,
    }
