"""Requests that arrive over MQTT for something other than the meeting machine (catch-up, docs/archive.md).

The link knows only topics and handlers: `MqttLink.add_request_handler(topic, handler)` subscribes the
topic on every connect and calls `handler(payload, retained=…, response_topic=…, correlation_data=…)`
on paho's thread for each message (the handler only queues it); `MqttLink.publish_response` sends an answer, with MQTT 5 correlation data.
"""

from __future__ import annotations

from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties


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
