"""The MQTT link: roomscribe's side of the contract in docs/mqtt.md, on paho-mqtt 2.x.

Two threads, neither of which the daemon's owner has to know about:
* paho's network thread runs the callbacks. They parse commands (handing valid ones to `on_command`)
  and otherwise only put jobs on a queue, because paho calls some of them while holding its own locks.
* the `mqtt-link` worker owns everything else: what is published, the remembered state, the
  transcripts in flight. Public methods only enqueue, so they never block the caller on the network.

Final utterances go to the durable outbox first (in the caller's thread, so they are on disk when
`submit_transcript` returns) and leave it only when the broker acknowledged them (delivery.py), in
outbox order. On every connect, whatever paho still held from
the previous connection is dropped and sent afresh from its source (outbox, remembered state,
events), so the order is the outbox's and nothing is sent twice by two mechanisms.
"""

from __future__ import annotations

import functools
import logging
import sqlite3
import sys
import time
from typing import Callable

from roomscribe.config import Settings
from roomscribe.core.records import Event, Partial, StateMessage, Utterance, encode
from roomscribe.outputs.mqtt import connection, requests
from roomscribe.outputs.mqtt.commands import Command, CommandRejected, parse_command, parse_switch
from roomscribe.outputs.mqtt.discovery import DiscoveryMessage, discovery_messages, home_assistant_status_topic
from roomscribe.outputs.mqtt.neighbours import shared_base_event
from roomscribe.outputs.mqtt.outbox import Outbox
from roomscribe.outputs.mqtt.topics import NOT_AVAILABLE, Topics
from roomscribe.outputs.mqtt.worker import LinkWorker, wake

log = logging.getLogger(__name__)

MAX_INFLIGHT = 10  # QoS 1 messages on the wire at once; within every broker's usual receive maximum


def _guarded(callback: Callable) -> Callable:
    """An exception escaping a paho callback kills its network loop: catch and log it instead."""

    @functools.wraps(callback)
    def wrapper(self, *args):
        try:
            callback(self, *args)
        except Exception:
            log.exception("MQTT %s failed", callback.__name__.lstrip("_"), extra={"callback_guard": True})

    return wrapper


class MqttLink(requests.LinkExtras):
    def __init__(
        self,
        settings: Settings,
        *,
        outbox: Outbox,
        on_command: Callable[[Command], None] | None = None,
        on_connection_change: Callable[[bool], None] | None = None,
        clock: Callable[[], float] = time.time,
    ):
        cfg = settings.mqtt
        self.settings = settings
        self.topics = Topics(cfg.base_topic)
        self._room = settings.room
        self._on_command = on_command
        self._outbox = outbox
        self._clock = clock
        self._discovery = discovery_messages(settings.room, self.topics, cfg.discovery_prefix)
        if not cfg.discovery:  # off: empty retained configs remove what an earlier run announced
            self._discovery = [DiscoveryMessage(m.topic, b"") for m in self._discovery]
        self._ha_status = home_assistant_status_topic(cfg.discovery_prefix) if cfg.discovery else None
        self._command_topics = self.topics.commands
        self._command_topics[self.topics.paused_set] = "paused/set"

        self._client = connection.build_client(settings, client_id=settings.mqtt_client_id())
        self._client.will_set(self.topics.availability, NOT_AVAILABLE, qos=1, retain=True)
        self._client.reconnect_delay_set(1, cfg.reconnect_max_delay)
        self._client.max_inflight_messages_set(MAX_INFLIGHT)
        self._client.on_socket_open = self._on_socket_open
        self._client.on_connect = self._on_connect
        self._client.on_connect_fail = self._on_connect_fail
        self._client.on_disconnect = self._on_disconnect
        self._client.on_publish = self._on_publish
        self._client.on_message = self._on_message

        self._worker = LinkWorker(settings, self._client, self.topics, outbox, discovery=self._discovery,
                                  on_connection_change=on_connection_change, clock=clock)
        self._started = False
        self._quit = False
        self._failure: str | None = None  # written by paho's thread only
        self._requests: dict[str, Callable] = {}  # request topic -> handler (paho's thread: it must only queue)

    # -- public: any thread --------------------------------------------------------------------

    def set_command_handler(self, on_command: Callable[[Command], None]) -> None:
        """Where valid commands go; set before start() (the composition root builds the owner after the link)."""
        self._on_command = on_command

    @property
    def connected(self) -> bool:
        """Connected, and the broker acknowledged `online`, published after discovery and state on this connection."""
        return self._worker.connected and self._worker.link_up and self._worker.announced

    def start(self) -> None:
        """Connect in the background; the daemon runs on without a broker and catches up later."""
        if self._started:
            return
        self._started = True
        cfg = self.settings.mqtt
        self._worker.start()
        self._worker.put(self._worker.expire_outbox)  # utterances too old from a previous run
        extra = {"clean_start": True} if cfg.protocol == "5" else {}
        self._client.connect_async(cfg.host, cfg.port, keepalive=cfg.keepalive, **extra)
        self._client.loop_start()
        log.info("MQTT: connecting to %s:%d as %s", cfg.host, cfg.port, self.settings.mqtt_client_id())

    def stop(self, timeout: float = 3.0) -> None:
        """Deliver what is in flight (within `timeout`), publish `offline` (retained), disconnect."""
        if not self._started or self._quit:
            return
        deadline = time.monotonic() + timeout
        self._worker.put(functools.partial(self._worker.begin_stop, deadline))
        self._worker.stop_done.wait(timeout + 2.0)
        self._client.disconnect()
        self._client.loop_stop()
        self._quit = True
        self._worker.quit(timeout=2.0)

    def publish_state(self, msg: StateMessage) -> None:
        self._worker.put(functools.partial(self._worker.state_job, encode(msg.to_payload())))

    def publish_event(self, event: Event) -> None:
        self._worker.put(functools.partial(self._worker.event_job, encode(event.to_payload())))

    def publish_partial(self, partial: Partial) -> None:
        self._worker.put(functools.partial(self._worker.partial_job, encode(partial.to_payload())))

    def submit_transcript(self, utt: Utterance) -> None:
        """On disk when this returns; published in order, forgotten once the broker acknowledged it."""
        try:
            stored = self._outbox.put(utt)
        except sqlite3.Error as exc:
            log.error("outbox write failed for %s#%d (%s): publishing it without a durable copy", utt.meeting_id, utt.seq, exc)
            self._worker.put(functools.partial(self._worker.unstored_job, encode(utt.to_payload()), str(exc)))
            return
        for drop in stored.dropped:
            self._worker.put(functools.partial(self._worker.report_drop, drop))
        self._worker.put(wake)  # the worker pumps the outbox after every batch of jobs

    def set_speech_connected(self, connected: bool | str) -> None:
        self._worker.put(functools.partial(self._worker.speech_job, connected))

    # -- paho's network thread -----------------------------------------------------------------

    @_guarded
    def _on_socket_open(self, client, userdata, sock) -> None:
        connection.set_nodelay(sock)

    @_guarded
    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        cap = self.settings.mqtt.reconnect_max_delay
        if reason_code.is_failure:
            reason = connection.describe(reason_code)
            if connection.is_auth_refusal(reason_code):
                # No hot loop: the next attempt waits the full cap, and the log says why once.
                client.reconnect_delay_set(cap, cap)
                if self._failure != reason:
                    log.error(
                        "MQTT broker %s:%d refused the connection: %s. Check mqtt.username and the password "
                        "(mqtt.password, mqtt.password_file, $CREDENTIALS_DIRECTORY/mqtt-password) and the "
                        "broker's ACL; retrying every %.0f s",
                        self.settings.mqtt.host, self.settings.mqtt.port, reason, cap,
                    )
            elif self._failure != reason:
                log.warning("MQTT broker refused the connection: %s; retrying", reason)
            self._failure = reason
            return
        receive_maximum = getattr(properties, "ReceiveMaximum", None)  # MQTT 5 only
        if receive_maximum is not None and receive_maximum < MAX_INFLIGHT:
            log.warning("MQTT broker accepts only %d messages in flight, fewer than the %d sent; it may "
                        "disconnect under load", receive_maximum, MAX_INFLIGHT)
        # Before paho resends anything of the last connection: the worker sends it afresh, in order.
        dropped = client.drop_out_messages()
        client.reconnect_delay_set(1, cap)
        subscriptions = [*self._command_topics, *self._requests, self.topics.state]  # state: who held it (below)
        if self._ha_status:
            subscriptions.append(self._ha_status)
        client.subscribe(connection.subscriptions(subscriptions))
        events = [m.payload for m in dropped if m.topic == self.topics.event]
        failure, self._failure = self._failure, None
        self._worker.link_up = True
        self._worker.put(functools.partial(self._worker.connected_job, events, failure))

    @_guarded
    def _on_connect_fail(self, client, userdata) -> None:
        exc = sys.exc_info()[1]  # paho calls this from inside its `except OSError`
        reason = f"{type(exc).__name__}: {exc}" if exc else "connection failed"
        if reason != self._failure:
            log.warning("MQTT: cannot connect to %s:%d: %s; retrying with backoff",
                        self.settings.mqtt.host, self.settings.mqtt.port, reason)
        else:
            log.debug("MQTT: still cannot connect: %s", reason)
        self._failure = reason

    @_guarded
    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        was_up, self._worker.link_up = self._worker.link_up, False
        if was_up:
            self._worker.put(functools.partial(self._worker.disconnected_job, connection.describe(reason_code)))

    @_guarded
    def _on_publish(self, client, userdata, mid, reason_code, properties) -> None:
        # paho holds its message lock here: hand over, never publish from this callback.
        self._worker.put(functools.partial(self._worker.acked_job, mid, reason_code))

    @_guarded
    def _on_message(self, client, userdata, msg) -> None:
        topic = msg.topic
        if topic == self.topics.state:  # once, on connect: who held the retained state before us
            client.unsubscribe(topic)
            event = shared_base_event(msg.payload, msg.retain, self._room, self.topics, self._clock())
            if event is not None:
                self._worker.put(functools.partial(self._worker.event_job, encode(event.to_payload())))
            return
        if topic == self._ha_status:
            if msg.payload.strip() == b"online":
                self._worker.put(self._worker.home_assistant_online_job)
            return
        if topic in self._requests:
            return requests.hand_to(self._requests[topic], msg)
        name = self._command_topics.get(topic)
        if name is None:
            return
        try:
            command = parse_switch(msg.payload) if topic == self.topics.paused_set else parse_command(name, msg.payload)
            if msg.retain:
                raise CommandRejected("retained commands are ignored: publish commands without the retain flag",
                                      command.request_id)
        except CommandRejected as exc:
            log.info("refused a command on %s: %s", topic, exc.reason)
            detail = {"command": name, "topic": topic, "reason": exc.reason, "payload_bytes": len(msg.payload)}
            event = Event("command_refused", detail, self._clock(), self._room, exc.request_id, "warning")
            self._worker.put(functools.partial(self._worker.event_job, encode(event.to_payload())))
            return
        log.debug("command %s (request_id %s)", command.name, command.request_id)
        if self._on_command is None:
            log.warning("command %s arrived before a handler was set; ignored", command.name)
            return
        self._on_command(command)
