"""The Mosquitto set-up of docs/security.md, as shipped in systemd/mosquitto/, on a real broker.

The broker runs the shipped conf snippet (its auth lines, with the paths of this test) and the shipped ACL,
with a password file made by mosquitto_passwd as the snippet's comments say. Clients are plain paho; the
catch-up test runs the real daemon (as the `roomscribe` user) against the emulator.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from tests.support.mosquitto import Mosquitto, Recorder

REPO = Path(__file__).resolve().parents[3]
SHIPPED = REPO / "systemd" / "mosquitto"
PASSWORDS = {"roomscribe": "daemon-pw", "controller": "controller-pw", "homeassistant": "ha-pw", "dashboard": "dash-pw"}


@pytest.fixture(scope="module")
def broker(tmp_path_factory):
    directory = tmp_path_factory.mktemp("acl")
    passwd = directory / "roomscribe.passwd"
    for index, (user, password) in enumerate(PASSWORDS.items()):
        create = ["-c"] if index == 0 else []
        subprocess.run(["mosquitto_passwd", *create, "-b", str(passwd), user, password], check=True,
                       capture_output=True, timeout=30)
    auth = []
    for line in (SHIPPED / "roomscribe.conf").read_text().splitlines():
        if not line.strip() or line.startswith("#") or line.startswith("listener"):
            continue  # the test broker listens on a free loopback port of its own
        auth.append(line.replace("/etc/mosquitto/roomscribe.passwd", str(passwd))
                        .replace("/etc/mosquitto/roomscribe.acl", str(SHIPPED / "roomscribe.acl")))
    assert {line.split()[0] for line in auth} == {"allow_anonymous", "password_file", "acl_file"}
    server = Mosquitto(directory, auth_config=auth).start()
    yield server
    server.stop()


class Publisher:
    """An MQTT 5 client whose PUBACKs are kept: Mosquitto answers a publish the ACL denies with 0x87."""

    def __init__(self, broker: Mosquitto, user: str):
        self.acks: dict[int, ReasonCode] = {}
        self._acked = threading.Condition()
        self._connected = threading.Event()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"{user}-{time.monotonic_ns()}",
                                  protocol=mqtt.MQTTv5)
        self.client.username_pw_set(user, PASSWORDS[user])
        self.client.on_connect = lambda c, u, f, rc, p: self._connected.set() if not rc.is_failure else None
        self.client.on_publish = self._on_publish
        self.client.connect(broker.host, broker.port)
        self.client.loop_start()
        assert self._connected.wait(10), f"{user} could not log in"

    def _on_publish(self, client, userdata, mid, reason_code, properties) -> None:
        with self._acked:
            self.acks[mid] = reason_code
            self._acked.notify_all()

    def publish(self, topic: str, payload: bytes = b"") -> ReasonCode:
        info = self.client.publish(topic, payload, qos=1)
        with self._acked:
            assert self._acked.wait_for(lambda: info.mid in self.acks, 10), "no PUBACK"
            return self.acks[info.mid]

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def test_a_dashboard_cannot_resume_and_the_controller_can(broker):
    daemon_view = Recorder(broker, ["meeting/resume", "meeting/pause"], username="roomscribe",
                           password=PASSWORDS["roomscribe"])
    dashboard, controller = Publisher(broker, "dashboard"), Publisher(broker, "controller")
    try:
        refused = dashboard.publish("meeting/resume", b'{"request_id": "dash-1"}')
        assert refused.is_failure and refused.value == 0x87, refused  # Not authorized, said by the broker
        renamed = dashboard.publish("meeting/speakers/set", b'{"speaker": "Guest-1", "name": "Mallory"}')
        assert renamed.is_failure and renamed.value == 0x87, renamed  # nor may it name voices
        accepted = controller.publish("meeting/resume", b'{"request_id": "panel-1"}')
        assert not accepted.is_failure, accepted
        daemon_view.wait_for(lambda: daemon_view.on("meeting/resume"), 10, "the controller's resume")
        time.sleep(0.3)  # the dashboard's publish went first: had the broker passed it on, it would be here
        assert [m.payload for m in daemon_view.on("meeting/resume")] == [b'{"request_id": "panel-1"}']
    finally:
        dashboard.close(), controller.close(), daemon_view.close()


def test_a_dashboard_reads_transcripts_but_not_commands_or_events(broker):
    dashboard = Recorder(broker, "meeting/#", username="dashboard", password=PASSWORDS["dashboard"])
    daemon = Publisher(broker, "roomscribe")
    controller = Publisher(broker, "controller")
    try:
        assert not daemon.publish("meeting/transcript", b'{"text": "hello"}').is_failure
        assert not daemon.publish("meeting/event", b'{"kind": "meeting_started"}').is_failure
        assert not daemon.publish("meeting/speakers", b'{"speakers": []}').is_failure
        assert not controller.publish("meeting/pause").is_failure
        assert not controller.publish("meeting/speakers/set", b'{"speaker": "Guest-1", "name": "Ann"}').is_failure
        dashboard.wait_for(lambda: dashboard.on("meeting/transcript") and dashboard.on("meeting/speakers"), 10,
                           "the transcript and the names")
        time.sleep(0.3)
        assert {m.topic for m in dashboard.messages} == {"meeting/transcript", "meeting/speakers"}
    finally:
        daemon.close(), controller.close(), dashboard.close()


def test_no_anonymous_login_and_home_assistant_may_command(broker):
    anonymous = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    result: list = []
    done = threading.Event()
    anonymous.on_connect = lambda c, u, f, rc, p: (result.append(rc), done.set())
    anonymous.connect(broker.host, broker.port)
    anonymous.loop_start()
    try:
        assert done.wait(10) and result[0].is_failure
    finally:
        anonymous.loop_stop()
    ha = Publisher(broker, "homeassistant")
    try:
        assert not ha.publish("meeting/paused/set", b"ON").is_failure
        assert not ha.publish("meeting/speakers/set", b'{"speaker": "Guest-1", "name": "Ann"}').is_failure
        assert ha.publish("meeting/transcript", b"{}").is_failure  # only the daemon writes transcripts
    finally:
        ha.close()


# -- catch-up for a read-only dashboard: its own response topic, and nobody else's -------------------------


class Dashboard:
    """A dashboard as the docs tell it to catch up: subscribe to its own response topic, then ask."""

    def __init__(self, broker: Mosquitto, client_id: str, topics: list[str], *, protocol=mqtt.MQTTv311):
        self.client_id = client_id
        self.messages: list[tuple[str, bytes]] = []
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=protocol)
        self.client.username_pw_set("dashboard", PASSWORDS["dashboard"])
        self.client.on_connect = lambda c, u, f, rc, p: c.subscribe([(t, 1) for t in topics])
        self.client.on_subscribe = lambda *a: self._subscribed.set()
        self.client.on_message = self._on_message
        self.client.connect(broker.host, broker.port)
        self.client.loop_start()
        assert self._subscribed.wait(10), f"{client_id} did not subscribe"

    def _on_message(self, client, userdata, msg) -> None:
        with self._lock:
            self.messages.append((msg.topic, msg.payload))

    def pages(self) -> list[dict]:
        with self._lock:
            return [json.loads(p) for t, p in self.messages if t.startswith("meeting/response/")]

    def ask(self, request: dict, properties=None) -> None:
        self.client.publish("meeting/request/transcript", json.dumps(request), qos=1,
                            properties=properties).wait_for_publish(10)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def test_a_read_only_dashboard_catches_up_on_its_own_topic_and_cannot_read_others(broker, emulator, tmp_path):
    from roomscribe.config import settings_from_data
    from tests.support.daemon_harness import TONE_SPEECH, DaemonThread, write_script_wav

    wav, planned = write_script_wav(tmp_path, "Guest-1: First line here.\nGuest-2: And the second one.\n"
                                              "Guest-1: The third line too.\n[silence 30]\n")
    settings = settings_from_data({
        "room": "acl", "mqtt": {"host": broker.host, "port": broker.port, "username": "roomscribe", "protocol": "5",
                                "password": PASSWORDS["roomscribe"], "outbox_path": str(tmp_path / "outbox.sqlite3")},
        "archive": {"path": str(tmp_path / "archive.sqlite3")}, "web": {"enabled": False},
        "speech": {"host": emulator.host_url, "key": "test-key"},
        "audio": {"source": "file", "file": str(wav), "speed": 2.0, **TONE_SPEECH}})
    watcher = Recorder(broker, "meeting/transcript", username="roomscribe", password=PASSWORDS["roomscribe"])
    everything = ["meeting/response/#", "meeting/request/#"]
    first, second = Dashboard(broker, "dash-kitchen", everything), Dashboard(broker, "dash-lobby", everything)
    spy = Dashboard(broker, "dash-spy", everything)  # the dashboard user too, asking nothing
    mqtt5 = Dashboard(broker, "dash-five", ["meeting/response/transcript/dash-five"], protocol=mqtt.MQTTv5)
    try:
        with DaemonThread(settings):
            watcher.wait_for(lambda: len(watcher.on("meeting/transcript")) >= len(planned), 60, "the meeting")
            first.ask({"since_seq": 0, "request_id": "kitchen-1", "reply_to": "dash-kitchen"})
            second.ask({"since_seq": 1, "request_id": "lobby-1", "reply_to": "dash-lobby"})
            properties = Properties(PacketTypes.PUBLISH)
            properties.ResponseTopic = "meeting/response/transcript/dash-five"
            properties.CorrelationData = b"five"
            mqtt5.ask({"since_seq": 2, "request_id": "five-1"}, properties)
            for dash in (first, second, mqtt5):
                watcher.wait_for(lambda d=dash: d.pages() and not d.pages()[-1]["more"], 20, f"{dash.client_id}'s answer")
            time.sleep(0.5)  # had the broker passed on anyone else's answer, it would be here by now
        texts = [p.text for p in planned]
        assert [u["text"] for page in first.pages() for u in page["utterances"]] == texts
        assert [u["text"] for page in second.pages() for u in page["utterances"]] == texts[1:]
        assert [u["text"] for page in mqtt5.pages() for u in page["utterances"]] == texts[2:]
        assert {p["request_id"] for p in first.pages()} == {"kitchen-1"}
        assert {p["request_id"] for p in second.pages()} == {"lobby-1"}
        # Each got its own answers on its own topic, nothing else: not the others', not the requests.
        assert {t for t, _ in first.messages} == {"meeting/response/transcript/dash-kitchen"}
        assert {t for t, _ in second.messages} == {"meeting/response/transcript/dash-lobby"}
        assert spy.messages == []
    finally:
        for client in (first, second, spy, mqtt5):
            client.close()
        watcher.close()
