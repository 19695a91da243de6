"""The MQTT link's worker: the one thread that publishes, and owns what is published.

MqttLink (link.py) and paho's callbacks only put jobs on its queue. The worker sends them, remembers
the retained state and the speech connection for the next connect, keeps events while the broker is
away, pumps the outbox (delivery.py) and carries out the stop: deliver what is in flight, publish
`offline`.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from typing import Callable

from roomscribe.config import Settings
from roomscribe.core.records import Event, encode
from roomscribe.outputs.mqtt import requests
from roomscribe.outputs.mqtt.delivery import TranscriptDelivery
from roomscribe.outputs.mqtt.outbox import Outbox
from roomscribe.outputs.mqtt.topics import (
    AVAILABLE,
    NOT_AVAILABLE,
    SPEECH_CONNECTED,
    SPEECH_DISCONNECTED,
    Topics,
)

log = logging.getLogger("roomscribe.outputs.mqtt.link")  # one log for the link and its worker, as before

OFFLINE_EVENTS = 200  # events kept while the broker is unreachable (the newest)
_STOP_POLL_S = 0.05


class LinkWorker(requests.WorkerExtras):
    def __init__(self, settings: Settings, client, topics: Topics, outbox: Outbox, *, discovery: list,
                 on_connection_change: Callable[[bool], None] | None, clock: Callable[[], float]):
        self.settings = settings
        self.topics = topics
        self._client = client
        self._room = settings.room
        self._outbox = outbox
        self._discovery = discovery
        self._on_connection_change = on_connection_change
        self._clock = clock
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._work, name="mqtt-link", daemon=True)
        self._quit = False
        self.link_up = False  # written by paho's thread only: the network connection is up
        # Owned by the worker.
        self.connected = False
        self.announced = False  # the broker acknowledged this connection's `online`
        self._online_mid: int | None = None
        self._ever_connected = False
        self._disconnected_at: float | None = None
        self._state_payload: bytes | None = None
        self._speech: str | None = None  # the last speech_connection value
        self._offline_events: deque[bytes] = deque(maxlen=OFFLINE_EVENTS)
        self._unstored: deque[bytes] = deque(maxlen=1000)
        self._retained: dict[str, bytes] = {}  # other retained topics (the meeting summary), sent on every connect
        self._delivery = TranscriptDelivery(outbox, self._publish_transcript)
        self._stopping = False
        self._stop_deadline: float | None = None
        self.stop_done = threading.Event()

    def put(self, job: Callable[[], None]) -> None:
        self._jobs.put(job)

    def start(self) -> None:
        self._thread.start()

    def quit(self, timeout: float = 2.0) -> None:
        self._quit = True
        self._jobs.put(wake)
        self._thread.join(timeout=timeout)

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
            if self.connected and self.link_up:
                self._run(self._delivery.pump)
            if self._stop_deadline is not None:
                self._run(self._maybe_finish_stop)

    def _run(self, job: Callable[[], None]) -> None:
        try:
            job()
        except Exception:
            log.exception("MQTT link job %r failed", job, extra={"callback_guard": True})

    def _send(self, topic: str, payload: bytes | str, *, qos: int = 1, retain: bool = False, properties=None):
        if not (self.connected and self.link_up):
            return None
        log.debug("publish %s %.200r", topic, payload)
        return self._client.publish(topic, payload, qos=qos, retain=retain, properties=properties)

    def connected_job(self, dropped_events: list[bytes], failure: str | None) -> None:
        reconnect = self._ever_connected
        self._ever_connected = True
        self.connected = True
        self._delivery.restart()
        online = self._publish_presence()
        # `MqttLink.connected` promises that `online` is at the broker: wait for its PUBACK (acked_job).
        self._online_mid = None if online is None else online.mid
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
            self.event_job(encode(Event("mqtt_reconnected", detail, self._clock(), self._room).to_payload()))
        else:
            log.info("MQTT: connected to %s:%d", cfg.host, cfg.port)
        self.expire_outbox()
        self._notify(True)

    def _publish_presence(self):
        """Discovery, state, speech connection, then `online`: a consumer seeing online sees current state.
        Returns paho's handle of the `online` publish (None when the link is down)."""
        for message in self._discovery:
            self._send(message.topic, message.payload, retain=True)
        if self._state_payload is not None:
            self._send(self.topics.state, self._state_payload, retain=True)
        if self._speech is not None:
            self._send(self.topics.speech_connection, self._speech, retain=True)
        for topic, payload in self._retained.items():
            self._send(topic, payload, retain=True)
        return self._send(self.topics.availability, AVAILABLE, retain=True)

    def home_assistant_online_job(self) -> None:
        log.info("Home Assistant came online: publishing discovery, state and availability again")
        self._publish_presence()

    def disconnected_job(self, reason: str) -> None:
        self.connected = self.announced = False
        self._online_mid = None
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

    def state_job(self, payload: bytes) -> None:
        self._state_payload = payload  # remembered: re-published on every connect
        self._send(self.topics.state, payload, retain=True)

    def speech_job(self, connected: bool | str) -> None:
        """True / False, or the value itself (core.records: connected, stalled, disconnected)."""
        if isinstance(connected, bool):
            connected = SPEECH_CONNECTED if connected else SPEECH_DISCONNECTED
        self._speech = connected
        self._send(self.topics.speech_connection, connected, retain=True)

    def event_job(self, payload: bytes) -> None:
        if self._send(self.topics.event, payload) is None:
            self._offline_events.append(payload)

    def partial_job(self, payload: bytes) -> None:
        self._send(self.topics.partial, payload, qos=0)  # a partial is stale by the time a broker is back

    def unstored_job(self, payload: bytes, error: str) -> None:
        self.event_job(encode(Event("outbox_error", {"error": error}, self._clock(), self._room, level="error").to_payload()))
        if self._send(self.topics.transcript, payload) is None:
            self._unstored.append(payload)

    # -- transcripts: outbox -> broker -----------------------------------------------------------

    def acked_job(self, mid: int, reason_code) -> None:
        if mid == self._online_mid:
            self._online_mid = None
            self.announced = True
            if reason_code is not None and reason_code.is_failure:
                log.error("broker refused `online` on %s: %s", self.topics.availability, reason_code.getName())
            return
        refusal = self._delivery.acknowledged(mid, reason_code)
        if refusal is not None:
            log.error("broker refused a transcript: %s; it stays in the outbox", refusal)
            detail = {"reason": refusal, "topic": self.topics.transcript}
            self.event_job(encode(Event("transcript_refused", detail, self._clock(), self._room, level="error").to_payload()))

    def _publish_transcript(self, payload: bytes) -> int | None:
        info = self._send(self.topics.transcript, payload)
        return None if info is None else info.mid

    # -- stopping ------------------------------------------------------------------------------

    def begin_stop(self, deadline: float) -> None:
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
        self.connected = self.announced = False
        log.info("MQTT: stopped; %d utterances wait in the outbox", len(self._outbox))
        self.stop_done.set()


def wake() -> None:
    """A job that does nothing: wakes the worker so it pumps the outbox."""
