"""paho's callbacks become typed messages for the worker, and nothing else happens in them (bridge.py).

A real paho client, not connected: the test calls the callbacks as paho's network thread would."""

from __future__ import annotations

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from roomscribe.outputs.mqtt.bridge import PahoBridge
from roomscribe.outputs.mqtt.messages import (
    Acknowledged,
    ConnectFailed,
    Connected,
    ConnectRefused,
    Disconnected,
    Received,
    SocketOpened,
)


@pytest.fixture
def bridged():
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="bridge-test", protocol=mqtt.MQTTv5)
    messages: list = []
    PahoBridge(client, messages.append, reconnect_max_delay=30)
    return client, messages


def test_a_connack_takes_paho_s_leftovers_out_before_paho_could_send_them_again(bridged):
    client, messages = bridged
    client.publish("meeting/event", b"kept while down", qos=1)  # not connected: paho keeps it to resend
    client.publish("meeting/transcript", b"{}", qos=1)
    properties = Properties(PacketTypes.CONNACK)
    properties.ReceiveMaximum = 20
    client.on_connect(client, None, mqtt.ConnectFlags(False), ReasonCode(PacketTypes.CONNACK, "Success"), properties)
    assert messages == [Connected(dropped=(("meeting/event", b"kept while down"), ("meeting/transcript", b"{}")),
                                  receive_maximum=20)]
    assert client.drop_out_messages() == []  # nothing left for paho to resend on its own


@pytest.mark.parametrize("reason, auth", [("Not authorized", True), ("Bad user name or password", True),
                                          ("Server unavailable", False)])
def test_a_refused_connack_says_why_and_whether_it_was_the_login(bridged, reason, auth):
    client, messages = bridged
    code = ReasonCode(PacketTypes.CONNACK, reason)
    client.on_connect(client, None, mqtt.ConnectFlags(False), code, Properties(PacketTypes.CONNACK))
    assert messages == [ConnectRefused(f"{reason} ({code.value})", auth=auth)]


def test_an_unreachable_broker_is_named_with_the_error(bridged):
    client, messages = bridged
    try:
        raise ConnectionRefusedError(111, "Connection refused")
    except OSError:  # paho calls on_connect_fail inside its own `except OSError`
        client.on_connect_fail(client, None)
    assert messages == [ConnectFailed("ConnectionRefusedError: [Errno 111] Connection refused")]


def test_socket_publish_disconnect_and_message_are_handed_over(bridged):
    client, messages = bridged
    sock = object()
    client.on_socket_open(client, None, sock)
    puback = ReasonCode(PacketTypes.PUBACK, "Success")
    client.on_publish(client, None, 7, puback, Properties(PacketTypes.PUBACK))
    normal = ReasonCode(PacketTypes.DISCONNECT, "Normal disconnection")
    client.on_disconnect(client, None, mqtt.DisconnectFlags(False), normal, None)
    msg = mqtt.MQTTMessage(topic=b"meeting/request/transcript")
    msg.payload = b'{"since_seq": 1}'
    msg.retain = True
    msg.properties = Properties(PacketTypes.PUBLISH)
    msg.properties.ResponseTopic = "dash/answers"
    msg.properties.CorrelationData = b"\x01\x02"
    client.on_message(client, None, msg)
    plain = mqtt.MQTTMessage(topic=b"meeting/pause")
    plain.payload = b""
    client.on_message(client, None, plain)
    assert messages == [
        SocketOpened(sock), Acknowledged(7, puback), Disconnected("Normal disconnection (0)"),
        Received("meeting/request/transcript", b'{"since_seq": 1}', True, "dash/answers", b"\x01\x02"),
        Received("meeting/pause", b"", False, None, None),
    ]
