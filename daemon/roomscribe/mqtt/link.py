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
import queue
import sqlite3
import sys
import threading
import time
from collections import deque
from typing import Callable

from roomscribe.config import Settings
from roomscribe.core.records import Event, Partial, StateMessage, Utterance, encode
from roomscribe.mqtt import connection
from roomscribe.mqtt.commands import Command, CommandRejected, parse_command, parse_switch
from roomscribe.mqtt.delivery import TranscriptDelivery
from roomscribe.mqtt.discovery import discovery_messages, home_assistant_status_topic
from roomscribe.mqtt.outbox import Dropped, Outbox
from roomscribe.mqtt.topics import (
    AVAILABLE,
    NOT_AVAILABLE,
    SPEECH_CONNECTED,
    SPEECH_DISCONNECTED,
    Topics,
)

log = logging.getLogger(__name__)

MAX_INFLIGHT = 10  # QoS 1 messages on the wire at once; within every broker's usual receive maximum
OFFLINE_EVENTS = 200  # events kept while the broker is unreachable (the newest)
_STOP_POLL_S = 0.05


def _guarded(callback: Callable) -> Callable:
    """An exception escaping a paho callback kills its network loop: catch and log it instead."""

    @functools.wraps(callback)
    def wrapper(self, *args):
        try:
            callback(self, *args)
        except Exception:
            log.exception("MQTT %s failed", callback.__name__.lstrip("_"), extra={"callback_guard": True})

    return wrapper


class MqttLink:
    def __init__(
        self,
        settings: Settings,
        *,
        on_command: Callable[[Command], None],
        outbox: Outbox,
        on_connection_change: Callable[[bool], None] | None = None,
        clock: Callable[[], float] = time.time,
    ):
        cfg = settings.mqtt
        self.settings = settings
        self.topics = Topics(cfg.base_topic)
        self._room = settings.room
        self._on_command = on_command
        self._outbox = outbox
        self._on_connection_change = on_connection_change
        self._clock = clock
        self._discovery = discovery_messages(settings.room, self.topics, cfg.discovery_prefix) if cfg.discovery else []
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

        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        self._worker = threading.Thread(target=self._work, name="mqtt-link", daemon=True)
        self._started = False
        self._quit = False
        # Written by paho's thread only.
        self._link_up = False
        self._failure: str | None = None
        # Owned by the worker.
        self._connected = False
        self._ever_connected = False
        self._disconnected_at: float | None = None
        self._state_payload: bytes | None = None
        self._speech: bool | None = None
        self._offline_events: deque[bytes] = deque(maxlen=OFFLINE_EVENTS)
        self._unstored: deque[bytes] = deque(maxlen=1000)
        self._delivery = TranscriptDelivery(outbox, self._publish_transcript)
        self._stopping = False
        self._stop_deadline: float | None = None
        self._stop_done = threading.Event()

    # -- public: any thread --------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._connected and self._link_up

    def start(self) -> None:
        """Connect in the background; the daemon runs on without a broker and catches up later."""
        if self._started:
            return
        self._started = True
        cfg = self.settings.mqtt
        self._worker.start()
        self._jobs.put(self._expire_outbox)  # utterances too old from a previous run
        extra = {"clean_start": True} if cfg.protocol == "5" else {}
        self._client.connect_async(cfg.host, cfg.port, keepalive=cfg.keepalive, **extra)
        self._client.loop_start()
        log.info("MQTT: connecting to %s:%d as %s", cfg.host, cfg.port, self.settings.mqtt_client_id())

    def stop(self, timeout: float = 3.0) -> None:
        """Deliver what is in flight (within `timeout`), publish `offline` (retained), disconnect."""
        if not self._started or self._quit:
            return
        deadline = time.monotonic() + timeout
        self._jobs.put(functools.partial(self._begin_stop, deadline))
        self._stop_done.wait(timeout + 2.0)
        self._client.disconnect()
        self._client.loop_stop()
        self._quit = True
        self._jobs.put(_wake)
        self._worker.join(timeout=2.0)

    def publish_state(self, msg: StateMessage) -> None:
        self._jobs.put(functools.partial(self._state_job, encode(msg.to_payload())))

    def publish_event(self, event: Event) -> None:
        self._jobs.put(functools.partial(self._event_job, encode(event.to_payload())))

    def publish_partial(self, partial: Partial) -> None:
        self._jobs.put(functools.partial(self._partial_job, encode(partial.to_payload())))

    def submit_transcript(self, utt: Utterance) -> None:
        """On disk when this returns; published in order, forgotten once the broker acknowledged it."""
        try:
            stored = self._outbox.put(utt)
        except sqlite3.Error as exc:
            log.error("outbox write failed for %s#%d (%s): publishing it without a durable copy", utt.meeting_id, utt.seq, exc)
            self._jobs.put(functools.partial(self._unstored_job, encode(utt.to_payload()), str(exc)))
            return
        for drop in stored.dropped:
            self._jobs.put(functools.partial(self._report_drop, drop))
        self._jobs.put(_wake)  # the worker pumps the outbox after every batch of jobs

    def set_speech_connected(self, connected: bool) -> None:
        self._jobs.put(functools.partial(self._speech_job, connected))

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
        subscriptions = [*self._command_topics]
        if self._ha_status:
            subscriptions.append(self._ha_status)
        client.subscribe(connection.subscriptions(subscriptions))
        events = [m.payload for m in dropped if m.topic == self.topics.event]
        failure, self._failure = self._failure, None
        self._link_up = True
        self._jobs.put(functools.partial(self._connected_job, events, failure))

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
        was_up, self._link_up = self._link_up, False
        if was_up:
            self._jobs.put(functools.partial(self._disconnected_job, connection.describe(reason_code)))

    @_guarded
    def _on_publish(self, client, userdata, mid, reason_code, properties) -> None:
        # paho holds its message lock here: hand over, never publish from this callback.
        self._jobs.put(functools.partial(self._acked_job, mid, reason_code))

    @_guarded
    def _on_message(self, client, userdata, msg) -> None:
        topic = msg.topic
        if topic == self._ha_status:
            if msg.payload.strip() == b"online":
                self._jobs.put(self._home_assistant_online_job)
            return
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
            self._jobs.put(functools.partial(self._event_job, encode(event.to_payload())))
            return
        log.debug("command %s (request_id %s)", command.name, command.request_id)
        self._on_command(command)

    # -- the worker ----------------------------------------------------------------------------

    def _work(self) -> None:
        while not self._quit:
            try:
                jobs = [self._jobs.get(timeout=_STOP_POLL_S if self._stop_deadline else None)]
            except queue.Empty:
                jobs = []
            while True:
                try:
                    jobs.append(self._jobs.get_nowait())
                except queue.Empty:
                    break
            for job in jobs:
                self._run(job)
            self._run(self._delivery.flush)
            if self._connected and self._link_up:
                self._run(self._delivery.pump)
            if self._stop_deadline is not None:
                self._run(self._maybe_finish_stop)

    def _run(self, job: Callable[[], None]) -> None:
        try:
            job()
        except Exception:
            log.exception("MQTT link job %r failed", job, extra={"callback_guard": True})

    def _send(self, topic: str, payload: bytes | str, *, qos: int = 1, retain: bool = False):
        if not (self._connected and self._link_up):
            return None
        log.debug("publish %s %.200r", topic, payload)
        return self._client.publish(topic, payload, qos=qos, retain=retain)

    def _connected_job(self, dropped_events: list[bytes], failure: str | None) -> None:
        reconnect = self._ever_connected
        self._ever_connected = True
        self._connected = True
        self._delivery.restart()
        self._publish_presence()
        for payload in dropped_events:
            self._send(self.topics.event, payload)
        while self._offline_events:
            self._send(self.topics.event, self._offline_events.popleft())
        while self._unstored:
            self._send(self.topics.transcript, self._unstored.popleft())
        cfg = self.settings.mqtt
        if reconnect:
            offline_s = self._clock() - self._disconnected_at if self._disconnected_at else None
            log.info("MQTT: reconnected to %s:%d after %.1f s", cfg.host, cfg.port, offline_s or 0.0)
            detail = {
                "offline_s": round(offline_s, 3) if offline_s is not None else None,
                "last_error": failure,
                "pending_utterances": len(self._outbox),
            }
            self._event_job(encode(Event("mqtt_reconnected", detail, self._clock(), self._room).to_payload()))
        else:
            log.info("MQTT: connected to %s:%d", cfg.host, cfg.port)
        self._expire_outbox()
        self._notify(True)

    def _publish_presence(self) -> None:
        """Discovery, state, speech connection, then `online`: a consumer seeing online sees current state."""
        for message in self._discovery:
            self._send(message.topic, message.payload, retain=True)
        if self._state_payload is not None:
            self._send(self.topics.state, self._state_payload, retain=True)
        if self._speech is not None:
            self._send(self.topics.speech_connection, SPEECH_CONNECTED if self._speech else SPEECH_DISCONNECTED,
                       retain=True)
        self._send(self.topics.availability, AVAILABLE, retain=True)

    def _home_assistant_online_job(self) -> None:
        log.info("Home Assistant came online: publishing discovery, state and availability again")
        self._publish_presence()

    def _disconnected_job(self, reason: str) -> None:
        self._connected = False
        self._disconnected_at = self._clock()
        if not self._stopping:
            log.warning("MQTT: connection lost (%s); %d utterances wait in the outbox", reason, len(self._outbox))
        self._notify(False)

    def _notify(self, connected: bool) -> None:
        if self._on_connection_change is not None:
            try:
                self._on_connection_change(connected)
            except Exception:
                log.exception("on_connection_change failed", extra={"callback_guard": True})

    def _state_job(self, payload: bytes) -> None:
        self._state_payload = payload  # remembered: re-published on every connect
        self._send(self.topics.state, payload, retain=True)

    def _speech_job(self, connected: bool) -> None:
        self._speech = connected
        self._send(self.topics.speech_connection, SPEECH_CONNECTED if connected else SPEECH_DISCONNECTED, retain=True)

    def _event_job(self, payload: bytes) -> None:
        if self._send(self.topics.event, payload) is None:
            self._offline_events.append(payload)

    def _partial_job(self, payload: bytes) -> None:
        self._send(self.topics.partial, payload, qos=0)  # a partial is stale by the time a broker is back

    def _unstored_job(self, payload: bytes, error: str) -> None:
        self._event_job(encode(Event("outbox_error", {"error": error}, self._clock(), self._room, level="error").to_payload()))
        if self._send(self.topics.transcript, payload) is None:
            self._unstored.append(payload)

    def _report_drop(self, drop: Dropped) -> None:
        self._event_job(encode(Event("outbox_dropped", drop.to_detail(), self._clock(), self._room, level="warning").to_payload()))

    def _expire_outbox(self) -> None:
        try:
            drops = self._outbox.expire()
        except sqlite3.Error as exc:
            log.error("outbox: %s", exc)
            return
        for drop in drops:
            self._report_drop(drop)

    # -- transcripts: outbox -> broker -----------------------------------------------------------

    def _acked_job(self, mid: int, reason_code) -> None:
        refusal = self._delivery.acknowledged(mid, reason_code)
        if refusal is not None:
            log.error("broker refused a transcript: %s; it stays in the outbox", refusal)
            detail = {"reason": refusal, "topic": self.topics.transcript}
            self._event_job(encode(Event("transcript_refused", detail, self._clock(), self._room, level="error").to_payload()))

    def _publish_transcript(self, payload: bytes) -> int | None:
        info = self._send(self.topics.transcript, payload)
        return None if info is None else info.mid

    # -- stopping ------------------------------------------------------------------------------

    def _begin_stop(self, deadline: float) -> None:
        self._stopping = True
        self._stop_deadline = deadline

    def _maybe_finish_stop(self) -> None:
        now = time.monotonic()
        if self.connected and self._delivery.in_flight and now < self._stop_deadline:
            return  # transcripts in flight still have time to be acknowledged
        if self.connected:
            info = self._send(self.topics.availability, NOT_AVAILABLE, retain=True)
            try:
                info.wait_for_publish(max(0.1, self._stop_deadline - now))
            except (ValueError, RuntimeError) as exc:
                log.warning("MQTT: could not publish offline: %s", exc)
        self._stop_deadline = None
        self._connected = False
        log.info("MQTT: stopped; %d utterances wait in the outbox", len(self._outbox))
        self._stop_done.set()


def _wake() -> None:
    """A job that does nothing: wakes the worker so it pumps the outbox."""
