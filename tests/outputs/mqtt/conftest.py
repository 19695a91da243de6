"""Fixtures for the MQTT tests: a real Mosquitto per test and MqttLinks wired to it.

Until the daemon drives the link, the tests drive it: they stand in for the owner, receive the parsed
commands and publish the state a daemon would.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import jsonschema
import pytest

from roomscribe.config import Settings, settings_from_data
from roomscribe.outputs.journal.journal import Journal
from roomscribe.outputs.mqtt.link import MqttLink
from tests.support.mosquitto import Mosquitto, mosquitto  # noqa: F401  (fixture)

SCHEMA_DIR = Path(__file__).resolve().parents[3] / "daemon" / "roomscribe" / "schemas"
ROOM = "testroom"


def load_schema(name: str) -> dict:
    return json.loads((SCHEMA_DIR / f"{name}.schema.json").read_text())


def validate(name: str, payload: bytes) -> None:
    """Validate a payload as received: JSON documents parsed, plain-text payloads as strings."""
    schema = load_schema(name)
    document = json.loads(payload) if schema.get("type") != "string" else payload.decode("utf-8")
    jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker()).validate(document)


def make_settings(broker: Mosquitto, tmp_path: Path, *, room: str = ROOM, **mqtt) -> Settings:
    options = {"host": broker.host, "port": broker.port, "reconnect_max_delay": 1, **mqtt}
    return settings_from_data({"room": room, "mqtt": options, "journal": {"path": str(tmp_path / f"journal-{room}.sqlite3")}})


class LinkUnderTest:
    """An MqttLink with its journal, plus what its owner would see: the commands and the connection changes."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.commands = []
        self.connection_changes = []
        self._lock = threading.Lock()
        self.journal = Journal.from_settings(settings).start()
        self.waiting = self.journal.deliveries  # len(): utterances not yet acknowledged by the broker
        self.link = MqttLink(
            settings, on_command=self._on_command, transcripts=self.waiting, on_connection_change=self._on_change
        )
        self.journal.writer.on_stored = self.link.wake

    def submit(self, utterance) -> None:
        """As the owner's fan-out hands an utterance over: into the journal, which wakes the link once stored."""
        self.journal.writer.utterance(utterance)

    def _on_command(self, command) -> None:
        with self._lock:
            self.commands.append(command)

    def _on_change(self, connected: bool) -> None:
        with self._lock:
            self.connection_changes.append(connected)

    def start(self) -> "LinkUnderTest":
        self.link.start()
        return self

    def wait_connected(self, timeout: float = 20.0) -> None:
        import time

        deadline = time.monotonic() + timeout
        while not self.link.connected:
            assert time.monotonic() < deadline, "the link did not connect"
            time.sleep(0.02)

    def stop(self) -> None:
        self.journal.flush()
        self.link.stop()
        self.journal.close()


@pytest.fixture
def brokers(tmp_path):
    """Builds (unstarted) Mosquitto brokers and stops them after the test. Request it before `links`:
    fixtures end in reverse order, so the links stop while their broker still answers (no reconnect wait)."""
    made: list[Mosquitto] = []

    def make(**kwargs) -> Mosquitto:
        broker = Mosquitto(tmp_path, **kwargs)
        made.append(broker)
        return broker

    yield make
    for broker in made:
        broker.stop()


@pytest.fixture
def links():
    """Builds LinkUnderTest objects and stops every one of them after the test."""
    made: list[LinkUnderTest] = []

    def make(settings: Settings, **kwargs) -> LinkUnderTest:
        item = LinkUnderTest(settings, **kwargs)
        made.append(item)
        return item

    yield make
    for item in made:
        item.stop()
