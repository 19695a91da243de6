"""The MQTT link against a real Mosquitto: topics, payloads, commands, retained state, will, discovery."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from roomscribe.config import settings_to_data
from roomscribe.core.records import Event, Partial, StateMessage
from roomscribe.outputs.mqtt.commands import Command
from roomscribe.outputs.mqtt.discovery import discovery_messages
from roomscribe.outputs.mqtt.topics import Topics
from tests.outputs.mqtt.conftest import ROOM, make_settings, validate
from tests.support.mosquitto import Mosquitto, Recorder, retained
from tests.support.mqtt_link_process import utterance

ENTITIES = len(discovery_messages(ROOM, Topics("meeting"), "homeassistant"))  # one retained config each

SCHEMA_OF_TOPIC = {
    "meeting/state": "state",
    "meeting/availability": "availability",
    "meeting/transcript": "transcript",
    "meeting/transcript/partial": "partial",
    "meeting/event": "event",
    "meeting/speech_connection": "speech_connection",
}


def state(name: str, request_id: str | None = None, meeting_id: str | None = "m1") -> StateMessage:
    return StateMessage(name, time.time(), meeting_id, 1 if meeting_id else None, request_id, f"{name} now", ROOM)


@pytest.mark.parametrize("protocol", ["3.1.1", "5"])
def test_every_topic_carries_payloads_valid_against_their_schema(mosquitto, tmp_path, links, protocol):
    rec = Recorder(mosquitto)
    item = links(make_settings(mosquitto, tmp_path, protocol=protocol)).start()
    item.wait_connected()
    link = item.link
    link.publish_state(state("transcribing"))
    link.set_speech_connected("stalled")
    link.publish_partial(Partial("m1", None, "good mor", time.time(), ROOM))
    link.publish_partial(Partial("m1", "Guest-1", "good morning", time.time(), ROOM))
    item.submit(utterance("m1", 1, ROOM, time.time()))
    link.publish_event(Event("speaker_epoch_changed", {"previous": 1, "speaker_epoch": 2}, time.time(), ROOM))
    rec.publish("meeting/pause", b"not json")
    rec.wait_for(lambda: len(rec.on("meeting/event")) >= 2, what="two events")
    rec.wait_for(lambda: rec.on("meeting/transcript"), what="the transcript")

    seen = {m.topic for m in rec.messages}
    assert set(SCHEMA_OF_TOPIC) <= seen
    for message in rec.messages:
        if message.topic in SCHEMA_OF_TOPIC:
            validate(SCHEMA_OF_TOPIC[message.topic], message.payload)
    qos = {m.topic: m.qos for m in rec.messages}
    assert qos["meeting/transcript"] == 1 and qos["meeting/state"] == 1 and qos["meeting/transcript/partial"] == 0
    assert retained(mosquitto, "meeting/state") == rec.on("meeting/state")[-1].payload
    assert retained(mosquitto, "meeting/availability") == b"online"
    assert retained(mosquitto, "meeting/speech_connection") == b"stalled"
    assert retained(mosquitto, "meeting/transcript") is None  # transcripts are not retained
    rec.wait_for(lambda: len(item.waiting) == 0, what="the acknowledgement")  # acknowledged: no longer waiting
    rec.close()


@pytest.mark.parametrize("protocol", ["3.1.1", "5"])
def test_commands_reach_the_owner_with_and_without_request_id(mosquitto, tmp_path, links, protocol):
    item = links(make_settings(mosquitto, tmp_path, protocol=protocol)).start()
    item.wait_connected()
    rec = Recorder(mosquitto)
    rec.publish("meeting/start", b"")
    rec.publish("meeting/pause", json.dumps({"request_id": "p-1"}))
    rec.publish("meeting/resume", b"{}")
    rec.publish("meeting/stop", json.dumps({"request_id": "s-ü"}))
    rec.publish("meeting/paused/set", b"ON")
    rec.publish("meeting/paused/set", b"OFF")
    expected = [Command("start"), Command("pause", "p-1"), Command("resume"), Command("stop", "s-ü"),
                Command("pause"), Command("resume")]
    rec.wait_for(lambda: len(item.commands) >= len(expected), what="six commands")
    assert item.commands == expected
    assert rec.on("meeting/event") == []
    rec.close()


def test_the_state_message_echoes_the_request_id(mosquitto, tmp_path, links):
    """The owner's round trip: command in, true state out with the command's request_id."""
    settings = make_settings(mosquitto, tmp_path)
    holder = {}

    def owner(command: Command) -> None:
        holder["link"].publish_state(state("paused" if command.name == "pause" else "transcribing", command.request_id))

    from roomscribe.outputs.journal.journal import Journal
    from roomscribe.outputs.mqtt.link import MqttLink

    link = MqttLink(settings, on_command=owner, transcripts=Journal.from_settings(settings).deliveries)
    holder["link"] = link
    link.start()
    try:
        rec = Recorder(mosquitto, "meeting/state")
        rec.wait_for(lambda: link.connected, what="connection")
        rec.publish("meeting/pause", json.dumps({"request_id": "r-42"}))
        answer = rec.wait_for(lambda: [m for m in rec.json_on("meeting/state") if m["request_id"] == "r-42"])
        assert answer[0]["state"] == "paused"
        rec.close()
    finally:
        link.stop()


@pytest.mark.parametrize(
    "topic, payload, reason",
    [
        ("meeting/pause", b"\xc3\x28", "not UTF-8"),
        ("meeting/resume", b"resume please", "neither empty nor JSON"),
        ("meeting/start", b"[1, 2]", "JSON object"),
        ("meeting/stop", b'{"request_id": 7}', "must be a string"),
        ("meeting/pause", b"{" + b" " * 5000 + b"}", "too large"),
        ("meeting/paused/set", b"maybe", "expected ON or OFF"),
    ],
)
def test_malformed_commands_are_refused_on_the_event_topic(mosquitto, tmp_path, links, topic, payload, reason):
    item = links(make_settings(mosquitto, tmp_path)).start()
    item.wait_connected()
    rec = Recorder(mosquitto, "meeting/event")
    rec.publish(topic, payload)
    event = rec.wait_for(lambda: rec.json_on("meeting/event"), what="the refusal")[0]
    validate("event", json.dumps(event).encode())
    assert event["kind"] == "command_refused" and event["level"] == "warning"
    assert reason in event["detail"]["reason"] and event["detail"]["topic"] == topic
    assert item.commands == []
    rec.close()


def test_a_refusal_carries_the_request_id_when_it_was_readable(mosquitto, tmp_path, links):
    item = links(make_settings(mosquitto, tmp_path)).start()
    item.wait_connected()
    rec = Recorder(mosquitto, "meeting/event")
    rec.publish("meeting/pause", json.dumps({"request_id": "r-7", "minutes": 5}))
    event = rec.wait_for(lambda: rec.json_on("meeting/event"))[0]
    assert event["request_id"] == "r-7" and "unknown keys" in event["detail"]["reason"]
    assert item.commands == []
    rec.close()


def test_a_retained_command_is_refused_not_replayed(mosquitto, tmp_path, links):
    rec = Recorder(mosquitto, "meeting/event")
    rec.publish("meeting/pause", json.dumps({"request_id": "old"}), retain=True)
    item = links(make_settings(mosquitto, tmp_path)).start()
    item.wait_connected()
    event = rec.wait_for(lambda: rec.json_on("meeting/event"))[0]
    assert event["request_id"] == "old" and "retained" in event["detail"]["reason"]
    assert item.commands == []
    rec.publish("meeting/pause", b"", retain=True)  # clear it
    rec.close()


def test_retained_state_and_availability_are_back_after_a_broker_restart(tmp_path, brokers, links):
    broker = brokers().start()  # no persistence: the restart forgets every retained message
    item = links(make_settings(broker, tmp_path)).start()
    item.wait_connected()
    item.link.publish_state(state("paused", "p-9"))
    item.link.set_speech_connected("connected")
    rec = Recorder(broker, "meeting/state")
    rec.wait_for(lambda: rec.on("meeting/state"), what="state")
    rec.close()
    broker.stop()
    deadline = time.monotonic() + 10
    while item.link.connected and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not item.link.connected
    broker.start()
    item.wait_connected()  # connected: the broker acknowledged `online`, published after the presence
    assert json.loads(retained(broker, "meeting/state"))["request_id"] == "p-9"
    assert retained(broker, "meeting/availability") == b"online"
    assert retained(broker, "meeting/speech_connection") == b"connected"
    assert retained(broker, "homeassistant/switch/roomscribe_testroom_paused/config") is not None
    assert item.connection_changes == [True, False, True]


def test_a_reconnect_is_reported_as_an_event(tmp_path, brokers, links):
    broker = brokers(persistence=True).start()
    rec = Recorder(broker, "meeting/event", client_id="event-watcher", persistent_session=True)
    item = links(make_settings(broker, tmp_path)).start()
    item.wait_connected()
    broker.stop()
    time.sleep(0.5)
    broker.start()
    item.wait_connected()
    event = rec.wait_for(lambda: [e for e in rec.json_on("meeting/event") if e["kind"] == "mqtt_reconnected"],
                         what="the reconnect event")[0]
    assert event["detail"]["offline_s"] >= 0.4 and event["detail"]["pending_utterances"] == 0
    validate("event", json.dumps(event).encode())
    rec.close()


def test_a_clean_stop_publishes_offline(mosquitto, tmp_path, links):
    item = links(make_settings(mosquitto, tmp_path)).start()
    item.wait_connected()
    assert retained(mosquitto, "meeting/availability") == b"online"
    item.link.stop()
    assert retained(mosquitto, "meeting/availability") == b"offline"
    assert not item.link.connected


def test_the_last_will_says_offline_when_the_process_is_killed(mosquitto, tmp_path):
    settings = make_settings(mosquitto, tmp_path)
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.support.mqtt_link_process", json.dumps(settings_to_data(settings)), "--wait-connected"],
        stdout=subprocess.PIPE, text=True, cwd=os.getcwd(),
    )
    try:
        assert proc.stdout.readline().strip() == "connected"
        rec = Recorder(mosquitto, "meeting/availability")
        # "online" is on its way once the child says connected; on a loaded machine it can take a moment.
        rec.wait_for(lambda: [m.payload for m in rec.on("meeting/availability")][-1:] == [b"online"], 10, "online")
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        rec.wait_for(lambda: [m for m in rec.on("meeting/availability") if m.payload == b"offline"],
                     what="the last will")
        assert retained(mosquitto, "meeting/availability") == b"offline"
        rec.close()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_home_assistant_coming_online_gets_discovery_state_and_availability_again(mosquitto, tmp_path, links):
    item = links(make_settings(mosquitto, tmp_path)).start()
    item.wait_connected()
    item.link.publish_state(state("transcribing"))
    rec = Recorder(mosquitto, ["homeassistant/#", "meeting/state", "meeting/availability"])
    configs = len(discovery_messages(ROOM, Topics("meeting"), "homeassistant"))
    rec.wait_for(lambda: len([m for m in rec.messages if m.topic.endswith("/config")]) == configs, what="retained configs")
    first = len(rec.messages)
    rec.publish("homeassistant/status", b"online")
    rec.wait_for(lambda: len(rec.messages) >= first + configs + 2, what="a second round")
    fresh = rec.messages[first:]
    assert len([m for m in fresh if m.topic.endswith("/config")]) == configs
    assert [m.payload for m in fresh if m.topic == "meeting/availability"] == [b"online"]
    assert len([m for m in fresh if m.topic == "meeting/state"]) == 1
    rec.close()


def test_turning_discovery_off_removes_every_entity_an_earlier_run_announced(mosquitto, tmp_path, links):
    topics = [m.topic for m in discovery_messages(ROOM, Topics("meeting"), "homeassistant")]
    first = links(make_settings(mosquitto, tmp_path)).start()
    first.wait_connected()
    first.stop()
    assert all(retained(mosquitto, topic) for topic in topics)
    second = links(make_settings(mosquitto, tmp_path, discovery=False)).start()
    second.wait_connected()  # the empty configs went out before `online`, which the broker acknowledged
    rec = Recorder(mosquitto, "homeassistant/#")
    time.sleep(0.5)
    assert rec.messages == []  # nothing retained is left to hand a new subscriber
    assert all(retained(mosquitto, topic) is None for topic in topics)
    rec.close()


def test_a_second_room_on_the_same_base_topic_is_warned_about(mosquitto, tmp_path, links):
    first = links(make_settings(mosquitto, tmp_path, room="lobby")).start()
    first.wait_connected()
    first.link.publish_state(StateMessage("idle", time.time(), None, None, None, "no meeting", "lobby"))
    deadline = time.monotonic() + 10
    while retained(mosquitto, "meeting/state") is None:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    first.stop()
    rec = Recorder(mosquitto, "meeting/event")
    second = links(make_settings(mosquitto, tmp_path, room=ROOM)).start()
    second.wait_connected()
    rec.wait_for(lambda: [m for m in rec.messages if b"base_topic_shared" in m.payload], what="the warning")
    event = json.loads(next(m.payload for m in rec.messages if b"base_topic_shared" in m.payload))
    assert event["level"] == "warning" and event["detail"]["other_room"] == "lobby"
    assert f"meeting/{ROOM}" in event["detail"]["advice"]
    rec.close()


def test_a_restart_of_the_same_room_is_no_warning(mosquitto, tmp_path, links):
    first = links(make_settings(mosquitto, tmp_path)).start()
    first.wait_connected()
    first.link.publish_state(state("idle"))
    time.sleep(0.5)
    first.stop()
    rec = Recorder(mosquitto, "meeting/event")
    second = links(make_settings(mosquitto, tmp_path)).start()
    second.wait_connected()
    time.sleep(1.0)
    assert not [m for m in rec.messages if b"base_topic_shared" in m.payload]
    rec.close()


def test_two_rooms_on_one_broker_keep_their_connections(mosquitto, tmp_path, links):
    a = links(make_settings(mosquitto, tmp_path, room="room-a", base_topic="rooms/a")).start()
    b = links(make_settings(mosquitto, tmp_path, room="room-b", base_topic="rooms/b")).start()
    a.wait_connected()
    b.wait_connected()
    time.sleep(1.0)
    assert a.connection_changes == [True] and b.connection_changes == [True]  # distinct client ids: no flapping
    assert retained(mosquitto, "rooms/a/availability") == b"online" == retained(mosquitto, "rooms/b/availability")


def test_the_socket_has_nagle_switched_off(mosquitto, tmp_path, links):
    item = links(make_settings(mosquitto, tmp_path)).start()
    item.wait_connected()
    info = item.link.socket_info()
    assert info is not None and info.nodelay and info.tls_version is None


def test_the_link_runs_without_a_broker_and_connects_when_one_appears(tmp_path, brokers, links):
    broker = brokers()  # configured, not started
    item = links(make_settings(broker, tmp_path)).start()
    item.link.publish_state(state("idle", meeting_id=None))
    item.submit(utterance("m1", 1, ROOM, time.time()))
    time.sleep(1.5)
    assert not item.link.connected and len(item.waiting) == 1
    broker.start()
    rec = Recorder(broker, ["meeting/transcript", "meeting/state"])
    item.wait_connected()
    rec.wait_for(lambda: rec.on("meeting/transcript"), what="the waiting transcript")
    assert json.loads(retained(broker, "meeting/state"))["state"] == "idle"
    rec.wait_for(lambda: len(item.waiting) == 0, what="nothing to wait")
    rec.close()


def test_the_meeting_summary_is_retained_and_sent_again_after_the_broker_lost_it(tmp_path, links):
    """publish_retained (the meeting summary): retained at once, and again on every connect, so a broker
    without persistence that restarted has it back."""
    broker = Mosquitto(tmp_path).start()
    try:
        item = links(make_settings(broker, tmp_path)).start()
        item.wait_connected()
        item.link.publish_retained("meeting/meeting", b'{"meeting_id": "m1"}')
        deadline = time.monotonic() + 10
        while retained(broker, "meeting/meeting") != b'{"meeting_id": "m1"}':
            assert time.monotonic() < deadline, "the summary was not retained"
        broker.stop()
        broker.start()  # no persistence: the broker forgot every retained message
        deadline = time.monotonic() + 20
        while retained(broker, "meeting/meeting") != b'{"meeting_id": "m1"}':
            assert time.monotonic() < deadline, "the summary was not sent again on the reconnect"
    finally:
        broker.stop()
