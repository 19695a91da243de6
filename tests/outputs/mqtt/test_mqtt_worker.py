"""The link worker's decisions, driven by the typed messages paho's bridge and the link send it: no broker,
no threads. The test stands in for the worker's thread (`handle`, then `after_batch`, as its loop does)
and for paho's client (it records what is published and subscribed; acknowledgements come when the test
says). What the journal hands out is a real journal's. The same paths run against a real Mosquitto in
test_mqtt_link.py, test_mqtt_outage.py and test_mqtt_security.py."""

from __future__ import annotations

import itertools
import json
import logging
import socket

import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.reasoncodes import ReasonCode

from roomscribe.config import settings_from_data
from roomscribe.core.records import AudioStats, encode
from roomscribe.outputs.mqtt.commands import Command
from roomscribe.outputs.mqtt.delivery import WINDOW
from roomscribe.outputs.mqtt.discovery import DiscoveryMessage, discovery_messages, home_assistant_status_topic
from roomscribe.outputs.mqtt.messages import (
    Acknowledged,
    ConnectFailed,
    Connected,
    ConnectRefused,
    Disconnected,
    PublishEvent,
    PublishPartial,
    PublishResponse,
    PublishRetained,
    PublishState,
    PublishStats,
    Received,
    SocketOpened,
    SpeechConnection,
    Stop,
)
from roomscribe.outputs.mqtt.routes import RequestHandler, routing_table
from roomscribe.outputs.mqtt.topics import AVAILABLE, NOT_AVAILABLE, Topics
from roomscribe.outputs.mqtt.worker import OFFLINE_EVENTS, LinkWorker
from tests.outputs.mqtt.conftest import validate
from tests.support.journal import JournalUnderTest
from tests.support.mqtt_link_process import utterance

ROOM = "r"
TOPICS = Topics("meeting")
PUBACK_OK = ReasonCode(PacketTypes.PUBACK, "Success")
PUBACK_REFUSED = ReasonCode(PacketTypes.PUBACK, "Not authorized")


class Sent:
    def __init__(self, mid: int):
        self.mid = mid
        self.waited_for = False

    def wait_for_publish(self, timeout=None):
        self.waited_for = True


class PahoStandIn:
    """Takes publishes as paho does: each gets a message id; the acknowledgements come later, if at all."""

    def __init__(self):
        self.calls: list[tuple] = []  # ("publish", topic, payload, qos, retain, properties, mid) / ("subscribe", …)
        self._mids = itertools.count(1)

    def publish(self, topic, payload, qos=1, retain=False, properties=None):
        sent = Sent(next(self._mids))
        self.calls.append(("publish", topic, payload, qos, retain, properties, sent))
        return sent

    def subscribe(self, topics):
        self.calls.append(("subscribe", [topic for topic, _ in topics]))

    def unsubscribe(self, topic):
        self.calls.append(("unsubscribe", topic))

    @property
    def published(self) -> list[tuple[str, bytes | str]]:
        return [(c[1], c[2]) for c in self.calls if c[0] == "publish"]

    def on(self, topic: str) -> list:
        return [payload for t, payload in self.published if t == topic]

    def sent(self, topic: str, payload=None) -> Sent:
        return next(c[6] for c in self.calls if c[0] == "publish" and c[1] == topic and payload in (None, c[2]))

    def clear(self) -> None:
        self.calls.clear()


class Rig:
    """A worker as the link builds it, with what its owner would see."""

    def __init__(self, transcripts, *, discovery: bool = True, owner: bool = True):
        """As the link builds it: `discovery` as `mqtt.discovery`; `owner`: a command handler is set."""
        self.settings = settings_from_data({"room": ROOM, "mqtt": {"reconnect_max_delay": 30}})
        self.client = PahoStandIn()
        self.commands: list[Command] = []
        self.changes: list[bool] = []
        self.requests: list[tuple] = []
        self.now = 1_700_000_000.0
        ha_status = home_assistant_status_topic("homeassistant") if discovery else None
        self.discovery = discovery_messages(ROOM, TOPICS, "homeassistant")
        if not discovery:
            self.discovery = [DiscoveryMessage(m.topic, b"") for m in self.discovery]
        routes = routing_table(TOPICS, room=ROOM, clock=lambda: self.now, home_assistant_status_topic=ha_status)
        self.worker = LinkWorker(self.settings, self.client, TOPICS, transcripts, discovery=self.discovery,
                                 routes=routes, on_connection_change=self.changes.append, clock=lambda: self.now)
        if owner:
            self.worker.set_command_handler(self.commands.append)
        self.worker.add_route("meeting/request/transcript", RequestHandler(
            lambda payload, **kw: self.requests.append((payload, kw))))

    def send(self, *messages) -> None:
        """One batch, as the worker's thread takes it."""
        for message in messages:
            self.worker.handle(message)
        self.worker.after_batch()

    def connect(self) -> None:
        self.send(Connected())
        self.send(Acknowledged(self.client.sent("meeting/availability", AVAILABLE).mid, PUBACK_OK))

    def events(self) -> list[dict]:
        return [json.loads(p) for p in self.client.on("meeting/event")]


@pytest.fixture
def journal(tmp_path):
    with JournalUnderTest(tmp_path / "j.sqlite3") as made:
        yield made


@pytest.fixture
def rig(journal):
    return Rig(journal.journal.deliveries)


def state(name: str, request_id: str | None = None) -> bytes:
    return encode({"state": name, "room": ROOM, "request_id": request_id})


# -- connecting -------------------------------------------------------------------------------------


def test_a_connect_subscribes_every_route_then_publishes_the_presence_and_online_last(rig):
    rig.send(PublishState(state("idle")), SpeechConnection("stalled"), PublishRetained("meeting/meeting", b"{}"))
    assert rig.client.calls == []  # not connected: nothing goes to paho
    rig.send(Connected())
    subscribe, *publishes = rig.client.calls
    assert subscribe[0] == "subscribe"
    assert set(subscribe[1]) == {*TOPICS.commands, "meeting/paused/set", "meeting/phrases/set", "meeting/speakers/set",
                                 "meeting/state",
                                 "homeassistant/status", "meeting/request/transcript"}
    assert [(c[1], c[2]) for c in publishes] == [
        *[(m.topic, m.payload) for m in rig.discovery],
        ("meeting/state", state("idle")), ("meeting/speech_connection", "stalled"), ("meeting/meeting", b"{}"),
        ("meeting/availability", AVAILABLE)]
    assert all(c[3] == 1 and c[4] for c in publishes)  # QoS 1, retained
    assert rig.worker.status.connected and not rig.worker.status.announced
    assert rig.changes == [True]


def test_the_speech_connection_is_one_of_three_values_and_the_last_one_is_retained_on_every_connect(rig):
    with pytest.raises(ValueError, match="connected, stalled, disconnected"):
        SpeechConnection(True)  # refused by the sender, before it reaches the worker
    rig.send(Connected())
    for value in ("disconnected", "connected", "stalled"):
        rig.send(SpeechConnection(value))
    assert [c[2] for c in rig.client.calls if c[0] == "publish" and c[1] == "meeting/speech_connection"] == [
        "disconnected", "connected", "stalled"]
    rig.client.calls.clear()
    rig.send(Disconnected("gone"), Connected())
    assert [c[2] for c in rig.client.calls if c[0] == "publish" and c[1] == "meeting/speech_connection"] == ["stalled"]


def test_the_link_is_announced_only_when_the_broker_acknowledged_online(rig):
    rig.send(Connected())
    online = rig.client.sent("meeting/availability", AVAILABLE).mid
    for other in [c[6].mid for c in rig.client.calls if c[0] == "publish" and c[6].mid != online]:
        rig.send(Acknowledged(other, PUBACK_OK))
    assert not rig.worker.status.announced  # other acknowledgements do not count
    rig.send(Acknowledged(online, PUBACK_OK))
    assert rig.worker.status.announced


def test_a_late_acknowledgement_of_an_earlier_connection_announces_nothing(rig):
    rig.send(Connected())
    first_online = rig.client.sent("meeting/availability", AVAILABLE).mid
    rig.send(Disconnected("test"))
    rig.send(Acknowledged(first_online, PUBACK_OK))
    assert not rig.worker.status.announced and not rig.worker.status.connected


def test_discovery_off_publishes_empty_configs_and_does_not_listen_to_home_assistant(journal):
    rig = Rig(journal.journal.deliveries, discovery=False)
    rig.send(Connected())
    assert "homeassistant/status" not in rig.client.calls[0][1]
    assert [p for t, p in rig.client.published if t.startswith("homeassistant/")] == [b""] * len(rig.discovery)


def test_a_refused_login_is_said_once_and_reported_with_the_reconnect(rig, caplog):
    rig.connect()
    rig.send(Disconnected("Unspecified error (128)"))
    with caplog.at_level(logging.WARNING, logger="roomscribe.outputs.mqtt.worker"):
        for _ in range(3):
            rig.send(ConnectRefused("Not authorized (135)", auth=True))
        rig.send(ConnectFailed("ConnectionRefusedError: [Errno 111] Connection refused"))
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1
    assert "mqtt.password_file" in errors[0].getMessage() and "every 30 s" in errors[0].getMessage()
    assert len([r for r in caplog.records if r.levelno == logging.WARNING and "cannot connect" in r.getMessage()]) == 1
    rig.now += 5
    rig.connect()
    (event,) = [e for e in rig.events() if e["kind"] == "mqtt_reconnected"]
    assert event["detail"]["last_error"] == "ConnectionRefusedError: [Errno 111] Connection refused"
    assert event["detail"]["pending_utterances"] == 0 and event["detail"]["offline_s"] >= 0
    validate("event", encode(event))
    assert rig.changes == [True, False, True]


def test_a_disconnect_without_a_connection_changes_nothing(rig):
    rig.send(ConnectRefused("Not authorized (135)", auth=True), Disconnected("Not authorized (135)"))
    assert rig.changes == [] and not rig.worker.status.connected


def test_a_broker_that_takes_fewer_messages_in_flight_is_warned_about(rig, caplog):
    with caplog.at_level(logging.WARNING, logger="roomscribe.outputs.mqtt.worker"):
        rig.send(Connected(receive_maximum=5))
    assert "accepts only 5 messages in flight" in caplog.text


def test_the_socket_of_a_new_connection_gets_nagle_switched_off(rig):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        rig.send(SocketOpened(sock))
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0


# -- while the broker is away -----------------------------------------------------------------------


def test_events_wait_for_the_broker_the_newest_kept_and_paho_s_leftovers_first(rig):
    rig.connect()
    rig.send(Disconnected("Connection lost"))
    rig.client.clear()
    for n in range(OFFLINE_EVENTS + 5):
        rig.send(PublishEvent(encode({"kind": "e", "n": n})))
    rig.send(PublishPartial(b'{"text": "stale"}'), PublishResponse("meeting/response/transcript", b"{}"))
    assert rig.client.calls == []  # partials and answers are dropped, events kept
    leftover = encode({"kind": "left in paho", "n": -1})
    rig.send(Connected(dropped=(("meeting/event", leftover), ("meeting/transcript", b"{...}"))))
    events = rig.client.on("meeting/event")
    assert events[0] == leftover  # paho's own leftovers: only its events are sent again by the worker
    assert [json.loads(e)["n"] for e in events[1:OFFLINE_EVENTS + 1]] == list(range(5, OFFLINE_EVENTS + 5))
    assert json.loads(events[-1])["kind"] == "mqtt_reconnected"
    assert rig.client.on("meeting/transcript") == [] and rig.client.on("meeting/transcript/partial") == []


def test_the_state_published_while_away_is_what_the_next_connect_retains(rig):
    rig.send(PublishState(state("transcribing")), PublishState(state("paused", "p-1")))
    rig.connect()
    assert rig.client.on("meeting/state") == [state("paused", "p-1")]


# -- what arrives: the routing table ----------------------------------------------------------------


def test_commands_go_to_the_owner_parsed(rig):
    rig.connect()
    rig.send(Received("meeting/pause", b'{"request_id": "p-1"}'), Received("meeting/start", b""),
             Received("meeting/paused/set", b"OFF"),
             Received("meeting/phrases/set", b'{"phrases": ["Contoso"], "request_id": "w-1"}'))
    assert rig.commands == [Command("pause", "p-1"), Command("start"), Command("resume"),
                            Command("phrases", "w-1", ("Contoso",))]
    assert [e for e in rig.events() if e["kind"] == "command_refused"] == []


@pytest.mark.parametrize("message, command, reason, request_id", [
    (Received("meeting/pause", b'{"request_id": "old"}', retained=True), "pause", "retained", "old"),
    (Received("meeting/stop", b'{"request_id": "s-2", "now": true}'), "stop", "unknown keys", "s-2"),
    (Received("meeting/resume", b"resume please"), "resume", "neither empty nor JSON", None),
    (Received("meeting/paused/set", b"maybe"), "paused/set", "expected ON or OFF", None),
    (Received("meeting/phrases/set", b'"Contoso"'), "phrases", "JSON array of phrases", None),
])
def test_a_bad_or_retained_command_is_refused_with_an_event_not_obeyed(rig, message, command, reason, request_id):
    rig.connect()
    rig.send(message)
    assert rig.commands == []
    (event,) = [e for e in rig.events() if e["kind"] == "command_refused"]
    assert event["request_id"] == request_id and event["level"] == "warning"
    assert event["detail"]["command"] == command and event["detail"]["topic"] == message.topic
    assert reason in event["detail"]["reason"] and event["detail"]["payload_bytes"] == len(message.payload)


def test_a_command_before_the_owner_is_there_is_dropped_with_a_warning(journal, caplog):
    rig = Rig(journal.journal.deliveries, owner=False)
    rig.connect()
    with caplog.at_level(logging.WARNING, logger="roomscribe.outputs.mqtt.worker"):
        rig.send(Received("meeting/pause", b""))
    assert "before a handler was set" in caplog.text


def test_home_assistant_coming_online_gets_the_presence_again(rig):
    rig.send(PublishState(state("idle")))
    rig.connect()
    rig.client.clear()
    rig.send(Received("homeassistant/status", b"offline"))
    assert rig.client.calls == []
    rig.send(Received("homeassistant/status", b"online"))
    assert [t for t, _ in rig.client.published] == [*[m.topic for m in rig.discovery], "meeting/state",
                                                    "meeting/availability"]


def test_the_state_found_on_connect_is_looked_at_once(rig):
    rig.connect()
    rig.send(Received("meeting/state", encode({"state": "idle", "room": "lobby"}), retained=True))
    assert ("unsubscribe", "meeting/state") in rig.client.calls
    (event,) = [e for e in rig.events() if e["kind"] == "base_topic_shared"]
    assert event["detail"]["other_room"] == "lobby" and f"meeting/{ROOM}" in event["detail"]["advice"]
    rig.client.clear()
    rig.send(Received("meeting/state", encode({"state": "idle", "room": ROOM}), retained=True))  # our own
    rig.send(Received("meeting/state", b"\xff not json", retained=True))
    assert [c[0] for c in rig.client.calls] == ["unsubscribe", "unsubscribe"]


def test_a_request_goes_to_its_handler_with_the_mqtt5_properties(rig):
    rig.connect()
    rig.send(Received("meeting/request/transcript", b'{"since_seq": 3}', retained=False,
                      response_topic="dash/answers", correlation_data=b"\x01\x02"))
    assert rig.requests == [(b'{"since_seq": 3}', {"retained": False, "response_topic": "dash/answers",
                                                   "correlation_data": b"\x01\x02"})]


def test_a_message_on_a_topic_without_a_route_is_ignored(rig):
    rig.connect()
    rig.client.clear()
    rig.send(Received("meeting/transcript", b"{}"))
    assert rig.client.calls == [] and rig.commands == [] and rig.requests == []


def test_an_answer_carries_the_correlation_data(rig):
    rig.connect()
    rig.send(PublishResponse("dash/answers", b'{"status": "ok"}', b"\x07"))
    (call,) = [c for c in rig.client.calls if c[0] == "publish" and c[1] == "dash/answers"]
    assert call[5].CorrelationData == b"\x07" and not call[4]


def test_the_stats_say_how_many_utterances_wait(rig, journal):
    journal.add_utterance(utterance("m1", 1, ROOM, 1.0))
    rig.send(PublishStats(AudioStats(sending=False, sent_today_s=1.0, sent_meeting_s=None, audio_overflows=0,
                                     at=rig.now, room=ROOM)))
    rig.connect()
    (stats,) = rig.client.on("meeting/stats")
    assert json.loads(stats)["outbox_waiting"] == 1


# -- transcripts from the journal ---------------------------------------------------------------------


def test_transcripts_go_out_in_the_journal_s_order_after_online_and_are_reported_back(rig, journal):
    for seq in (1, 2, 3):
        journal.add_utterance(utterance("m1", seq, ROOM, 1.0))
    rig.send(Connected())
    topics = [t for t, _ in rig.client.published]
    assert topics.index("meeting/availability") < topics.index("meeting/transcript")
    assert [json.loads(p)["seq"] for p in rig.client.on("meeting/transcript")] == [1, 2, 3]
    for seq in (1, 2, 3):
        rig.send(Acknowledged(rig.client.sent("meeting/transcript",
                                              rig.client.on("meeting/transcript")[seq - 1]).mid, PUBACK_OK))
    assert len(journal.journal.deliveries) == 0


def test_a_transcript_the_broker_refuses_waits_for_the_next_connection(rig, journal):
    journal.add_utterance(utterance("m1", 1, ROOM, 1.0))
    rig.connect()
    rig.send(Acknowledged(rig.client.sent("meeting/transcript").mid, PUBACK_REFUSED))
    (event,) = [e for e in rig.events() if e["kind"] == "transcript_refused"]
    assert event["level"] == "error" and "Not authorized" in event["detail"]["reason"]
    assert len(journal.journal.deliveries) == 1
    rig.send(Disconnected("Connection lost"))
    rig.client.clear()
    rig.connect()
    assert len(rig.client.on("meeting/transcript")) == 1  # sent again from the journal


def test_a_reconnect_sends_again_what_was_in_flight_nothing_acknowledged_twice(rig, journal):
    for seq in range(1, WINDOW + 6):
        journal.add_utterance(utterance("m1", seq, ROOM, 1.0))
    rig.connect()
    first = rig.client.on("meeting/transcript")
    assert len(first) == WINDOW
    for payload in first[:10]:
        rig.send(Acknowledged(rig.client.sent("meeting/transcript", payload).mid, PUBACK_OK))
    rig.send(Disconnected("Connection lost"))
    rig.client.clear()
    rig.connect()
    assert [json.loads(p)["seq"] for p in rig.client.on("meeting/transcript")] == list(range(11, WINDOW + 6))


# -- the stop -----------------------------------------------------------------------------------------


def test_the_stop_waits_for_what_is_in_flight_then_publishes_offline(rig, journal):
    import time

    journal.add_utterance(utterance("m1", 1, ROOM, 1.0))
    rig.connect()
    rig.send(Stop(time.monotonic() + 60))
    assert not rig.worker.stopped.is_set() and rig.client.on("meeting/availability") == [AVAILABLE]
    rig.send(Acknowledged(rig.client.sent("meeting/transcript").mid, PUBACK_OK))
    assert rig.worker.stopped.is_set()
    assert rig.client.on("meeting/availability") == [AVAILABLE, NOT_AVAILABLE]
    assert rig.client.sent("meeting/availability", NOT_AVAILABLE).waited_for
    assert len(journal.journal.deliveries) == 0 and rig.changes == [True, False]
    assert not rig.worker.status.connected
    rig.send(Disconnected("Normal disconnection (0)"), Connected())  # paho's own, after the stop: nothing follows
    assert rig.changes == [True, False] and rig.client.on("meeting/availability") == [AVAILABLE, NOT_AVAILABLE]


def test_the_stop_does_not_wait_past_its_deadline(rig, journal):
    import time

    journal.add_utterance(utterance("m1", 1, ROOM, 1.0))
    rig.connect()
    rig.send(Stop(time.monotonic() - 1))
    assert rig.worker.stopped.is_set() and rig.client.on("meeting/availability")[-1] == NOT_AVAILABLE
    assert len(journal.journal.deliveries) == 1  # never acknowledged: it waits for the next run


def test_a_stop_while_the_broker_is_away_ends_at_once(rig):
    import time

    rig.send(Stop(time.monotonic() + 60))
    assert rig.worker.stopped.is_set() and rig.client.calls == [] and rig.changes == []

