"""What the MQTT link's worker is told: typed messages, each handled on the worker's thread (worker.py).

Two kinds of sender, neither of which decides anything:
* paho's network thread, through `PahoBridge` (bridge.py): what happened on the connection;
* any thread, through `MqttLink`'s public methods (link.py): what to publish, and when to stop.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from typing import Union

from paho.mqtt.reasoncodes import ReasonCode

from roomscribe.core.records import SPEECH_CONNECTED, SPEECH_DISCONNECTED, SPEECH_STALLED, AudioStats

SPEECH_CONNECTION_VALUES = (SPEECH_CONNECTED, SPEECH_STALLED, SPEECH_DISCONNECTED)

# -- from paho's network thread --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SocketOpened:
    """A TCP (or TLS) connection to the broker was opened; the MQTT CONNECT follows."""

    sock: socket.socket


@dataclass(frozen=True, slots=True)
class Connected:
    """The broker accepted the connection (CONNACK). `dropped`: (topic, payload) of what paho still held
    from the last connection, taken out of its resend queue before it could send it again: the worker
    sends it afresh from its source (the journal, the remembered state), and the events themselves."""

    dropped: tuple[tuple[str, bytes], ...] = ()
    receive_maximum: int | None = None  # MQTT 5: how many QoS 1 messages the broker takes in flight


@dataclass(frozen=True, slots=True)
class ConnectRefused:
    """The broker refused the connection (a failed CONNACK); `auth`: a refused login, which retrying soon
    cannot fix."""

    reason: str
    auth: bool = False


@dataclass(frozen=True, slots=True)
class ConnectFailed:
    """No connection: the broker could not be reached (refused, unresolvable, TLS failed …)."""

    reason: str


@dataclass(frozen=True, slots=True)
class Disconnected:
    reason: str


@dataclass(frozen=True, slots=True)
class Acknowledged:
    """The broker acknowledged a QoS 1 publish (PUBACK); with MQTT 5 it may have refused it."""

    mid: int
    reason_code: ReasonCode | None = None


@dataclass(frozen=True, slots=True)
class Received:
    """A message on a subscribed topic, with MQTT 5's response topic and correlation data when it has them."""

    topic: str
    payload: bytes
    retained: bool = False
    response_topic: str | None = None
    correlation_data: bytes | None = None


# -- from any thread, through MqttLink -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PublishState:
    payload: bytes  # retained, and remembered for the next connect


@dataclass(frozen=True, slots=True)
class PublishEvent:
    payload: bytes  # kept while the broker is away (the newest OFFLINE_EVENTS)


@dataclass(frozen=True, slots=True)
class PublishPartial:
    payload: bytes  # QoS 0, dropped while the broker is away


@dataclass(frozen=True, slots=True)
class SpeechConnection:
    value: str  # connected, stalled or disconnected (core/records.py); retained, and remembered for the next connect

    def __post_init__(self) -> None:  # refused in the sender's thread, never on the worker's
        if self.value not in SPEECH_CONNECTION_VALUES:
            raise ValueError(f"speech connection {self.value!r} is not one of {', '.join(SPEECH_CONNECTION_VALUES)}")


@dataclass(frozen=True, slots=True)
class PublishRetained:
    topic: str  # another retained topic (the meeting summary), remembered for the next connect
    payload: bytes


@dataclass(frozen=True, slots=True)
class PublishStats:
    stats: AudioStats  # retained on `<base>/stats`; the worker adds how many utterances wait


@dataclass(frozen=True, slots=True)
class PublishResponse:
    """An answer to a request: QoS 1, not retained, dropped while disconnected (the asker has moved on)."""

    topic: str
    payload: bytes
    correlation_data: bytes | None = None


@dataclass(frozen=True, slots=True)
class Wake:
    """The journal stored something new: deliver what waits (the worker does after every batch)."""


@dataclass(frozen=True, slots=True)
class Stop:
    """Deliver what is in flight until `deadline` (time.monotonic()), publish `offline`, disconnect."""

    deadline: float


@dataclass(frozen=True, slots=True)
class Quit:
    """End the worker's thread (after Stop, once paho's thread has ended)."""


FromPaho = Union[SocketOpened, Connected, ConnectRefused, ConnectFailed, Disconnected, Acknowledged, Received]
FromLink = Union[PublishState, PublishEvent, PublishPartial, SpeechConnection, PublishRetained, PublishStats,
                 PublishResponse, Wake, Stop, Quit]
Message = Union[FromPaho, FromLink]
