"""paho's callbacks, each turned into a typed message for the link's worker (messages.py, worker.py).

The callbacks run on paho's network thread, some while paho holds its own locks: they read and write no
state of roomscribe's and decide nothing, they translate and enqueue. Two adjustments of paho's own
state are made here because paho acts on it the moment the callback returns, before the worker could:
* on a successful CONNACK paho resends whatever it still holds from the last connection; that is taken
  out of it first (`drop_out_messages`) and handed to the worker, which sends it afresh from its source,
  in order, and nothing twice;
* on a refused login paho computes its next reconnect wait right after the callback; its delay is set
  to `mqtt.reconnect_max_delay` here, so a wrong password is retried only that often from the first
  retry on (and reset to the usual backoff on the next successful CONNACK). Logging it, once, is the
  worker's.
Every callback is guarded: an exception escaping one would end paho's network loop.
"""

from __future__ import annotations

import functools
import logging
import sys
from typing import Callable

import paho.mqtt.client as mqtt

from roomscribe.outputs.mqtt import connection
from roomscribe.outputs.mqtt.messages import (
    Acknowledged,
    ConnectFailed,
    Connected,
    ConnectRefused,
    Disconnected,
    FromPaho,
    Received,
    SocketOpened,
)

log = logging.getLogger(__name__)


def _guarded(callback: Callable) -> Callable:
    """An exception escaping a paho callback kills its network loop: catch and log it instead."""

    @functools.wraps(callback)
    def wrapper(self, *args):
        try:
            callback(self, *args)
        except Exception:
            log.exception("MQTT %s failed", callback.__name__, extra={"callback_guard": True})

    return wrapper


class PahoBridge:
    def __init__(self, client: mqtt.Client, put: Callable[[FromPaho], None], *, reconnect_max_delay: int):
        self._put = put
        self._cap = reconnect_max_delay
        client.on_socket_open = self.on_socket_open
        client.on_connect = self.on_connect
        client.on_connect_fail = self.on_connect_fail
        client.on_disconnect = self.on_disconnect
        client.on_publish = self.on_publish
        client.on_message = self.on_message

    @_guarded
    def on_socket_open(self, client, userdata, sock) -> None:
        self._put(SocketOpened(sock))

    @_guarded
    def on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            auth = connection.is_auth_refusal(reason_code)
            if auth:
                client.reconnect_delay_set(self._cap, self._cap)
            self._put(ConnectRefused(connection.describe(reason_code), auth))
            return
        dropped = client.drop_out_messages()
        client.reconnect_delay_set(1, self._cap)
        self._put(Connected(tuple((m.topic, bytes(m.payload)) for m in dropped),
                            getattr(properties, "ReceiveMaximum", None)))  # MQTT 5 only

    @_guarded
    def on_connect_fail(self, client, userdata) -> None:
        exc = sys.exc_info()[1]  # paho calls this from inside its `except OSError`
        self._put(ConnectFailed(f"{type(exc).__name__}: {exc}" if exc else "connection failed"))

    @_guarded
    def on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        self._put(Disconnected(connection.describe(reason_code)))

    @_guarded
    def on_publish(self, client, userdata, mid, reason_code, properties) -> None:
        self._put(Acknowledged(mid, reason_code))

    @_guarded
    def on_message(self, client, userdata, msg) -> None:
        props = getattr(msg, "properties", None)
        response_topic = getattr(props, "ResponseTopic", None) if props is not None else None
        correlation = getattr(props, "CorrelationData", None) if props is not None else None
        self._put(Received(msg.topic, bytes(msg.payload), bool(msg.retain), response_topic or None,
                           bytes(correlation) if correlation is not None else None))
