"""What the link publishes retained again on every connect, and when Home Assistant comes online.

In this order, so that a client that sees `online` also sees the current state: the Home Assistant
discovery configs, the state, the speech connection, the other retained topics (the meeting summary,
the stats), and last `online` itself (the worker sends that one and waits for its acknowledgement).
Pure: it remembers the last payload of each, the link's worker thread sends them.
"""

from __future__ import annotations

from roomscribe.outputs.mqtt.discovery import DiscoveryMessage
from roomscribe.outputs.mqtt.topics import Topics


class Presence:
    def __init__(self, topics: Topics, discovery: list[DiscoveryMessage]):
        self._topics = topics
        self._discovery = list(discovery)
        self._state: bytes | None = None
        self._speech: str | None = None  # the last speech connection value: none said yet
        self._retained: dict[str, bytes] = {}  # other retained topics, in the order they first came

    def state(self, payload: bytes) -> tuple[str, bytes]:
        """Remember the state; (topic, payload) to publish now."""
        self._state = payload
        return self._topics.state, payload

    def speech(self, value: str) -> tuple[str, str]:
        """Remember the speech connection (connected, stalled or disconnected); (topic, payload) to publish now."""
        self._speech = value
        return self._topics.speech_connection, value

    def retained(self, topic: str, payload: bytes) -> tuple[str, bytes]:
        self._retained[topic] = payload
        return topic, payload

    def messages(self) -> list[tuple[str, bytes | str]]:
        """Everything to publish retained on a connect, before `online`, in order."""
        found: list[tuple[str, bytes | str]] = [(m.topic, m.payload) for m in self._discovery]
        if self._state is not None:
            found.append((self._topics.state, self._state))
        if self._speech is not None:
            found.append((self._topics.speech_connection, self._speech))
        found += self._retained.items()
        return found
