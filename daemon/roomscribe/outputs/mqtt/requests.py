"""What the link offers beyond the meeting's own topics: requests and their answers, other retained topics
(the meeting summary, the audio stats).

The link knows only topics and handlers: `MqttLink.add_request_handler(topic, handler)` subscribes the
topic on every connect and calls `handler(payload, retained=…, response_topic=…, correlation_data=…)`
on paho's thread for each message (the handler only queues it: catch-up, outputs/archive/responder.py);
`publish_response` sends an answer, with MQTT 5 correlation data; `publish_retained` a retained
message the worker sends again on every connect (the meeting summary). Mixed into MqttLink and
LinkWorker, whose attributes (`_worker`, `_requests`, `_send`, `_retained`) they use.
"""

from __future__ import annotations

import functools
import logging
from typing import Callable

from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from roomscribe.core.records import AudioStats, encode

log = logging.getLogger("roomscribe.outputs.mqtt.link")


class LinkExtras:
    """MqttLink's public side of it: any thread."""

    def add_request_handler(self, topic: str, handler: Callable) -> None:
        """Subscribe `topic` on every connect; each message goes to the handler on paho's thread, which
        must only queue it. Set before start()."""
        self._requests[topic] = handler

    def publish_response(self, topic: str, payload: bytes, correlation_data: bytes | None = None) -> None:
        """One QoS 1 answer to a request (with MQTT 5 correlation data); dropped while disconnected."""
        self._worker.put(functools.partial(self._worker.response_job, topic, payload, correlation_data))

    def publish_retained(self, topic: str, payload: bytes) -> None:
        """A retained message (QoS 1), published again on every connect."""
        self._worker.put(functools.partial(self._worker.retained_job, topic, payload))

    def publish_stats(self, stats: AudioStats) -> None:
        """The retained `<base>/stats`; the worker adds how many utterances wait for the broker."""
        self._worker.put(functools.partial(self._worker.stats_job, stats))


class WorkerExtras:
    """LinkWorker's jobs for it: the worker thread."""

    def retained_job(self, topic: str, payload: bytes) -> None:
        self._retained[topic] = payload
        self._send(topic, payload, retain=True)

    def stats_job(self, stats: AudioStats) -> None:
        self.retained_job(self.topics.stats, encode(stats.to_payload(len(self._transcripts))))

    def response_job(self, topic: str, payload: bytes, correlation_data: bytes | None) -> None:
        """An answer: QoS 1, not retained, not kept for a later connect (the asker has moved on)."""
        if self._send(topic, payload, properties=response_properties(correlation_data)) is None:
            log.info("MQTT: a response on %s was dropped: not connected", topic)


def hand_to(handler, msg) -> None:
    """Calls the handler with a paho message's payload, retain flag, MQTT 5 response topic and correlation data."""
    props = getattr(msg, "properties", None)
    response_topic = getattr(props, "ResponseTopic", None) if props is not None else None
    correlation = getattr(props, "CorrelationData", None) if props is not None else None
    handler(bytes(msg.payload), retained=bool(msg.retain), response_topic=response_topic or None,
            correlation_data=bytes(correlation) if correlation is not None else None)


def response_properties(correlation_data: bytes | None) -> Properties | None:
    if correlation_data is None:
        return None
    props = Properties(PacketTypes.PUBLISH)
    props.CorrelationData = correlation_data
    return props
