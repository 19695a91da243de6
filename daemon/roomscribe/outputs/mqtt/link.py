"""The MQTT link: roomscribe's side of the contract in docs/mqtt.md, on paho-mqtt 2.x, composed of parts
that each own what they hold.

* `MqttLink` (this module) is what the owner and the composition root see: an `Output` whose methods
  only put a typed message on the worker's queue (messages.py), so they never block the caller on the
  network; and the paho client's life (connect, disconnect), with its will and limits.
* paho's network thread runs the callbacks of `PahoBridge` (bridge.py), which only turn them into
  messages for the worker.
* the `mqtt-link` worker (`LinkWorker`, worker.py) is the one owner of the link's state: it publishes,
  remembers the retained presence (presence.py), delivers from the journal (delivery.py), routes what
  arrives through the routing table (routes.py) and carries out the stop.

Final utterances come from the journal (outputs/journal/), never from `submit_transcript`: the worker
reads what the journal's writer committed (`TranscriptQueue`), publishes it in the journal's order and
reports each PUBACK back; `wake()` is how the writer says that something new is stored. On every connect,
whatever paho still held from the previous connection is dropped and sent afresh from its source (the
journal, the remembered presence, the events), so the order is the journal's and nothing is sent twice by
two mechanisms.
"""

from __future__ import annotations

import logging
import time
from typing import Callable

from roomscribe.config import Settings
from roomscribe.core.records import AudioStats, Event, Partial, SpeakerMap, StateMessage, Utterance, encode
from roomscribe.outputs.mqtt import connection
from roomscribe.outputs.mqtt.bridge import PahoBridge
from roomscribe.outputs.mqtt.commands import Command
from roomscribe.outputs.mqtt.connection import MAX_INFLIGHT, SocketInfo
from roomscribe.outputs.mqtt.delivery import TranscriptQueue
from roomscribe.outputs.mqtt.discovery import DiscoveryMessage, discovery_messages, home_assistant_status_topic
from roomscribe.outputs.mqtt.messages import (
    PublishEvent,
    PublishPartial,
    PublishResponse,
    PublishRetained,
    PublishState,
    PublishStats,
    SpeechConnection,
    Stop,
    Wake,
)
from roomscribe.outputs.mqtt.routes import RequestHandler, routing_table
from roomscribe.outputs.mqtt.topics import NOT_AVAILABLE, Topics
from roomscribe.outputs.mqtt.worker import LinkStatus, LinkWorker

log = logging.getLogger(__name__)


class MqttLink:
    def __init__(
        self,
        settings: Settings,
        *,
        transcripts: TranscriptQueue,
        on_command: Callable[[Command], None] | None = None,
        on_connection_change: Callable[[bool], None] | None = None,
        clock: Callable[[], float] = time.time,
    ):
        cfg = settings.mqtt
        self.settings = settings
        self.topics = Topics(cfg.base_topic)
        discovery = discovery_messages(settings.room, self.topics, cfg.discovery_prefix)
        if not cfg.discovery:  # off: empty retained configs remove what an earlier run announced
            discovery = [DiscoveryMessage(m.topic, b"") for m in discovery]
        routes = routing_table(self.topics, room=settings.room, clock=clock, home_assistant_status_topic=(
            home_assistant_status_topic(cfg.discovery_prefix) if cfg.discovery else None))

        self._client = connection.build_client(settings, client_id=settings.mqtt_client_id())
        self._client.will_set(self.topics.availability, NOT_AVAILABLE, qos=1, retain=True)
        self._client.reconnect_delay_set(1, cfg.reconnect_max_delay)
        self._client.max_inflight_messages_set(MAX_INFLIGHT)
        self._worker = LinkWorker(settings, self._client, self.topics, transcripts, discovery=discovery,
                                  routes=routes, on_connection_change=on_connection_change, clock=clock)
        self._worker.set_command_handler(on_command)
        self._bridge = PahoBridge(self._client, self._worker.put, reconnect_max_delay=cfg.reconnect_max_delay)

    # -- before start() ------------------------------------------------------------------------

    def set_command_handler(self, on_command: Callable[[Command], None]) -> None:
        """Where valid commands go (from the link's worker thread; the handler only hands them over). Set
        before start(): the composition root builds the owner after the link."""
        self._worker.set_command_handler(on_command)

    def add_request_handler(self, topic: str, handler: Callable[..., None]) -> None:
        """Subscribe `topic` on every connect; each message goes to `handler(payload, retained=…,
        response_topic=…, correlation_data=…)` on the link's worker thread, which must only queue it
        (catch-up: outputs/archive/responder.py). Set before start()."""
        self._worker.add_route(topic, RequestHandler(handler))

    # -- any thread: read-only -----------------------------------------------------------------

    @property
    def connected(self) -> bool:
        """Connected, and the broker acknowledged `online`, published after discovery and state on this connection."""
        return self._worker.status.announced

    @property
    def status(self) -> LinkStatus:
        """The connection as the worker last knew it (a snapshot)."""
        return self._worker.status

    def socket_info(self) -> SocketInfo | None:
        """The connection's socket: its TLS version and whether Nagle is off (None while not connected)."""
        return connection.socket_info(self._client.socket())

    # -- any thread: lifecycle -----------------------------------------------------------------

    def start(self) -> None:
        """Connect in the background; the daemon runs on without a broker and catches up later."""
        if self._worker.started:
            return
        cfg = self.settings.mqtt
        self._worker.start()
        extra = {"clean_start": True} if cfg.protocol == "5" else {}
        self._client.connect_async(cfg.host, cfg.port, keepalive=cfg.keepalive, **extra)
        self._client.loop_start()
        log.info("MQTT: connecting to %s:%d as %s", cfg.host, cfg.port, self.settings.mqtt_client_id())

    def stop(self, timeout: float = 3.0) -> None:
        """Deliver what is in flight (within `timeout`), publish `offline` (retained), disconnect."""
        if not self._worker.started or self._worker.finished:
            return
        self._worker.put(Stop(time.monotonic() + timeout))
        self._worker.stopped.wait(timeout + 2.0)
        self._client.disconnect()
        self._client.loop_stop()
        self._worker.quit(timeout=2.0)

    # -- any thread: what to publish (Output, and more) ------------------------------------------

    def publish_state(self, msg: StateMessage) -> None:
        self._worker.put(PublishState(encode(msg.to_payload())))

    def publish_event(self, event: Event) -> None:
        self._worker.put(PublishEvent(encode(event.to_payload())))

    def publish_partial(self, partial: Partial) -> None:
        self._worker.put(PublishPartial(encode(partial.to_payload())))

    def set_speech_connected(self, value: str) -> None:
        """The retained `<base>/speech_connection`: connected, stalled or disconnected (core/records.py)."""
        self._worker.put(SpeechConnection(value))

    def publish_stats(self, stats: AudioStats) -> None:
        """The retained `<base>/stats`; the worker adds how many utterances wait for the broker."""
        self._worker.put(PublishStats(stats))

    def publish_retained(self, topic: str, payload: bytes) -> None:
        """A retained message (QoS 1), published again on every connect (the meeting summary)."""
        self._worker.put(PublishRetained(topic, payload))

    def publish_response(self, topic: str, payload: bytes, correlation_data: bytes | None = None) -> None:
        """One QoS 1 answer to a request (with MQTT 5 correlation data); dropped while disconnected."""
        self._worker.put(PublishResponse(topic, payload, correlation_data))

    def submit_transcript(self, utt: Utterance) -> None:
        """Nothing: a transcript reaches the link through the journal, once it is stored (see `wake`)."""

    def publish_speakers(self, speakers: SpeakerMap) -> None:
        """The running meeting's voices and names, retained on `<base>/speakers` (a past meeting's: nothing)."""
        if speakers.running:
            self.publish_retained(self.topics.speakers, encode(speakers.to_payload()))

    def wake(self) -> None:
        """Something new waits in the journal: the worker delivers after its current batch (any thread)."""
        self._worker.put(Wake())
