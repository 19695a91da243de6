"""The MQTT link's worker: the one thread that owns the link's state, and the one that publishes.

Everything reaches it as a typed message (messages.py) on one queue: what happened on the connection
from paho's thread (bridge.py), what to publish from any thread (link.py). It takes the messages in
batches; after each batch it reports acknowledged transcripts to the journal and hands paho the next
ones (delivery.py). It owns every flag of the link: whether the broker accepted this connection and
acknowledged its `online` (`status`), the last connection failure, the `online` in flight, when the
connection was lost, the retained presence to send again on every connect (presence.py), the events
kept while the broker is away, the transcripts in flight, the stop in progress. Inbound messages go
through the routing table (routes.py); this class is the `Inbound` its handlers act through.

`handle(message)` and `after_batch()` are the whole of its decisions: the thread only calls them, and
the tests drive them directly (tests/outputs/mqtt/test_mqtt_worker.py), no broker needed.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Callable

from roomscribe.config import Settings
from roomscribe.core.records import Event, encode
from roomscribe.outputs.mqtt import connection
from roomscribe.outputs.mqtt.commands import Command
from roomscribe.outputs.mqtt.delivery import TranscriptDelivery, TranscriptQueue
from roomscribe.outputs.mqtt.discovery import DiscoveryMessage
from roomscribe.outputs.mqtt.messages import (
    Acknowledged,
    ConnectFailed,
    Connected,
    ConnectRefused,
    Disconnected,
    Message,
    PublishEvent,
    PublishPartial,
    PublishResponse,
    PublishRetained,
    PublishState,
    PublishStats,
    Quit,
    Received,
    SocketOpened,
    SpeechConnection,
    Stop,
    Wake,
)
from roomscribe.outputs.mqtt.presence import Presence
from roomscribe.outputs.mqtt.routes import Handler
from roomscribe.outputs.mqtt.topics import AVAILABLE, NOT_AVAILABLE, Topics

log = logging.getLogger(__name__)

OFFLINE_EVENTS = 200  # events kept while the broker is unreachable (the newest)
_STOP_POLL_S = 0.05


@dataclass(frozen=True, slots=True)
class LinkStatus:
    """The link's connection as the worker last knew it; replaced whole, so any thread reads it consistent."""

    connected: bool = False  # the broker accepted this connection, and it was not lost since
    announced: bool = False  # ... and acknowledged this connection's `online` (what `MqttLink.connected` says)


class LinkWorker:
    def __init__(self, settings: Settings, client, topics: Topics, transcripts: TranscriptQueue, *,
                 discovery: list[DiscoveryMessage], routes: dict[str, Handler],
                 on_connection_change: Callable[[bool], None] | None = None, clock: Callable[[], float] = time.time):
        """`client`: the paho client, used to publish, subscribe and unsubscribe (any thread may: paho locks)."""
        self.topics = topics
        self._mqtt = settings.mqtt
        self._room = settings.room
        self._client = client
        self._transcripts = transcripts
        self._routes = dict(routes)
        self._on_connection_change = on_connection_change
        self._on_command: Callable[[Command], None] | None = None
        self._clock = clock
        self._messages: queue.SimpleQueue[Message] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._work, name="mqtt-link", daemon=True)
        self._handlers: dict[type, Callable] = {
            SocketOpened: self._socket_opened,
            Connected: self._connected,
            ConnectRefused: self._connect_refused,
            ConnectFailed: self._connect_failed,
            Disconnected: self._disconnected,
            Acknowledged: self._acknowledged,
            Received: self._received,
            PublishState: self._publish_state,
            PublishEvent: lambda m: self._event(m.payload),
            PublishPartial: self._publish_partial,
            SpeechConnection: self._speech_connection,
            PublishRetained: lambda m: self._retained(m.topic, m.payload),
            PublishStats: self._publish_stats,
            PublishResponse: self._publish_response,
            Wake: lambda m: None,  # after_batch() delivers
            Stop: self._begin_stop,
            Quit: self._quit,
        }
        # Owned by the worker's thread from start() on.
        self._status = LinkStatus()
        self._failure: str | None = None  # the last connection failure, said once and reported on reconnect
        self._online_mid: int | None = None  # this connection's `online`, until the broker acknowledged it
        self._ever_connected = False
        self._disconnected_at: float | None = None
        self._presence = Presence(topics, discovery)
        self._offline_events: deque[bytes] = deque(maxlen=OFFLINE_EVENTS)
        self._delivery = TranscriptDelivery(transcripts, self._publish_transcript)
        self._stopping = False
        self._stop_deadline: float | None = None
        self._running = True
        self.stopped = threading.Event()  # the stop is done: what was in flight delivered, `offline` published

    # -- any thread ----------------------------------------------------------------------------

    @property
    def status(self) -> LinkStatus:
        return self._status

    @property
    def started(self) -> bool:
        return self._thread.ident is not None

    @property
    def finished(self) -> bool:
        return self.started and not self._thread.is_alive()

    def put(self, message: Message) -> None:
        self._messages.put(message)

    def set_command_handler(self, on_command: Callable[[Command], None] | None) -> None:
        """Where valid commands go; set before start()."""
        self._refuse_if_started("the command handler")
        self._on_command = on_command

    def add_route(self, topic: str, handler: Handler) -> None:
        """One more entry in the routing table (a request topic); before start()."""
        self._refuse_if_started("a route")
        self._routes[topic] = handler

    def start(self) -> None:
        self._thread.start()

    def quit(self, timeout: float = 2.0) -> None:
        self.put(Quit())
        self._thread.join(timeout=timeout)

    def _refuse_if_started(self, what: str) -> None:
        if self.started:
            raise RuntimeError(f"{what} is set before the link starts")

    # -- the worker's thread -------------------------------------------------------------------

    def _work(self) -> None:
        while self._running:
            try:
                batch = [self._messages.get(timeout=_STOP_POLL_S if self._stop_deadline is not None else None)]
            except queue.Empty:
                batch = []
            while True:
                try:
                    batch.append(self._messages.get_nowait())
                except queue.Empty:
                    break
            for message in batch:
                self.handle(message)
            self.after_batch()

    def handle(self, message: Message) -> None:
        """Act on one message (the worker's thread, or a test standing in for it)."""
        self._guarded(self._handlers[type(message)], message)

    def after_batch(self) -> None:
        """After each batch of messages: report acknowledgements, deliver what waits, carry the stop on."""
        self._guarded(self._delivery.flush)
        if self._status.connected:
            self._guarded(self._delivery.pump)
        if self._stop_deadline is not None:
            self._guarded(self._maybe_finish_stop)

    def _guarded(self, call: Callable, *args) -> None:
        try:
            call(*args)
        except Exception:
            what = type(args[0]).__name__ if args else getattr(call, "__name__", "a step")
            log.exception("MQTT link: handling %s failed", what, extra={"callback_guard": True})

    def _send(self, topic: str, payload: bytes | str, *, qos: int = 1, retain: bool = False, properties=None):
        if not self._status.connected:
            return None
        log.debug("publish %s %.200r", topic, payload)
        return self._client.publish(topic, payload, qos=qos, retain=retain, properties=properties)

    def _set_status(self, *, connected: bool, announced: bool) -> None:
        self._status = LinkStatus(connected=connected, announced=announced)

    def _notify(self, connected: bool) -> None:
        if self._on_connection_change is not None:
            try:
                self._on_connection_change(connected)
            except Exception:
                log.exception("on_connection_change failed", extra={"callback_guard": True})

    # -- the connection ------------------------------------------------------------------------

    def _socket_opened(self, message: SocketOpened) -> None:
        connection.set_nodelay(message.sock)  # before anything of this connection is published by the worker

    def _connected(self, message: Connected) -> None:
        if self.stopped.is_set():
            return
        cfg = self._mqtt
        if message.receive_maximum is not None and message.receive_maximum < connection.MAX_INFLIGHT:
            log.warning("MQTT broker accepts only %d messages in flight, fewer than the %d sent; it may "
                        "disconnect under load", message.receive_maximum, connection.MAX_INFLIGHT)
        reconnect = self._ever_connected
        self._ever_connected = True
        failure, self._failure = self._failure, None
        self._set_status(connected=True, announced=False)
        # Renewed on every connect; before the presence, so the broker answers with the state it held before us.
        self._client.subscribe(connection.subscriptions(self._routes))
        self._delivery.restart()
        online = self._publish_presence()
        # `MqttLink.connected` promises that `online` is at the broker: wait for its PUBACK (_acknowledged).
        self._online_mid = None if online is None else online.mid
        for topic, payload in message.dropped:  # paho's leftovers: only the events are not sent again otherwise
            if topic == self.topics.event:
                self._send(self.topics.event, payload)
        while self._offline_events:
            self._send(self.topics.event, self._offline_events.popleft())
        if reconnect:
            offline_s = time.monotonic() - self._disconnected_at if self._disconnected_at is not None else None
            log.info("MQTT: reconnected to %s:%d after %.1f s", cfg.host, cfg.port, offline_s or 0.0)
            detail = {
                "offline_s": round(offline_s, 3) if offline_s is not None else None,
                "last_error": failure,
                "pending_utterances": len(self._transcripts),
            }
            self.publish_event(Event("mqtt_reconnected", detail, self._clock(), self._room))
        else:
            log.info("MQTT: connected to %s:%d", cfg.host, cfg.port)
        self._notify(True)

    def _connect_refused(self, message: ConnectRefused) -> None:
        cfg = self._mqtt
        if message.reason != self._failure:
            if message.auth:  # the bridge set paho's reconnect delay to the cap: no hot loop
                log.error(
                    "MQTT broker %s:%d refused the connection: %s. Check mqtt.username and the password "
                    "(mqtt.password, mqtt.password_file, $CREDENTIALS_DIRECTORY/mqtt-password) and the "
                    "broker's ACL; retrying every %.0f s",
                    cfg.host, cfg.port, message.reason, cfg.reconnect_max_delay,
                )
            else:
                log.warning("MQTT broker refused the connection: %s; retrying", message.reason)
        self._failure = message.reason

    def _connect_failed(self, message: ConnectFailed) -> None:
        if message.reason != self._failure:
            log.warning("MQTT: cannot connect to %s:%d: %s; retrying with backoff",
                        self._mqtt.host, self._mqtt.port, message.reason)
        else:
            log.debug("MQTT: still cannot connect: %s", message.reason)
        self._failure = message.reason

    def _disconnected(self, message: Disconnected) -> None:
        if not self._status.connected:
            return  # a refused or failed connection, or the stop's own disconnect
        self._set_status(connected=False, announced=False)
        self._online_mid = None
        self._disconnected_at = time.monotonic()  # a duration: never skewed by a step of the wall clock
        if not self._stopping:
            log.warning("MQTT: connection lost (%s); %d utterances wait in the journal",
                        message.reason, len(self._transcripts))
        self._notify(False)

    def _acknowledged(self, message: Acknowledged) -> None:
        if message.mid == self._online_mid:
            self._online_mid = None
            self._set_status(connected=self._status.connected, announced=True)
            if message.reason_code is not None and message.reason_code.is_failure:
                log.error("broker refused `online` on %s: %s", self.topics.availability, message.reason_code.getName())
            return
        refusal = self._delivery.acknowledged(message.mid, message.reason_code)
        if refusal is not None:
            log.error("broker refused a transcript: %s; it keeps waiting in the journal", refusal)
            detail = {"reason": refusal, "topic": self.topics.transcript}
            self.publish_event(Event("transcript_refused", detail, self._clock(), self._room, level="error"))

    def _received(self, message: Received) -> None:
        handler = self._routes.get(message.topic)
        if handler is None:
            log.debug("no route for %s; ignored", message.topic)
            return
        handler(message, self)

    # -- what to publish -----------------------------------------------------------------------

    def _publish_presence(self):
        """The retained presence, then `online`. Returns paho's handle of the `online` publish (None when down)."""
        for topic, payload in self._presence.messages():
            self._send(topic, payload, retain=True)
        return self._send(self.topics.availability, AVAILABLE, retain=True)

    def _publish_state(self, message: PublishState) -> None:
        self._send(*self._presence.state(message.payload), retain=True)

    def _speech_connection(self, message: SpeechConnection) -> None:
        self._send(*self._presence.speech(message.value), retain=True)

    def _retained(self, topic: str, payload: bytes) -> None:
        self._send(*self._presence.retained(topic, payload), retain=True)

    def _publish_stats(self, message: PublishStats) -> None:
        self._retained(self.topics.stats, encode(message.stats.to_payload(len(self._transcripts))))

    def _event(self, payload: bytes) -> None:
        if self._send(self.topics.event, payload) is None:
            self._offline_events.append(payload)

    def _publish_partial(self, message: PublishPartial) -> None:
        self._send(self.topics.partial, message.payload, qos=0)  # a partial is stale by the time a broker is back

    def _publish_response(self, message: PublishResponse) -> None:
        properties = connection.response_properties(message.correlation_data)
        if self._send(message.topic, message.payload, properties=properties) is None:
            log.info("MQTT: a response on %s was dropped: not connected", message.topic)

    def _publish_transcript(self, payload: bytes) -> int | None:
        info = self._send(self.topics.transcript, payload)
        return None if info is None else info.mid

    # -- Inbound: what the routing table's handlers do (routes.py) -------------------------------

    def to_owner(self, command: Command) -> None:
        if self._on_command is None:
            log.warning("command %s arrived before a handler was set; ignored", command.name)
            return
        self._on_command(command)

    def publish_event(self, event: Event) -> None:
        self._event(encode(event.to_payload()))

    def publish_presence(self) -> None:
        self._publish_presence()

    def unsubscribe(self, topic: str) -> None:
        self._client.unsubscribe(topic)

    # -- stopping ------------------------------------------------------------------------------

    def _begin_stop(self, message: Stop) -> None:
        self._stopping = True
        self._stop_deadline = message.deadline

    def _maybe_finish_stop(self) -> None:
        now = time.monotonic()
        connected = self._status.connected
        if connected and self._delivery.in_flight and now < self._stop_deadline:
            return  # transcripts in flight still have time to be acknowledged
        if connected:
            info = self._send(self.topics.availability, NOT_AVAILABLE, retain=True)
            try:
                info.wait_for_publish(max(0.1, self._stop_deadline - now))
            except (ValueError, RuntimeError) as exc:
                log.warning("MQTT: could not publish offline: %s", exc)
        self._stop_deadline = None
        self._set_status(connected=False, announced=False)
        log.info("MQTT: stopped; %d utterances wait in the journal", len(self._transcripts))
        if connected:
            self._notify(False)
        self.stopped.set()

    def _quit(self, message: Quit) -> None:
        self._running = False
