"""Runs the real daemon in-process on its own thread and event loop, and an MQTT subscriber for tests."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt

from roomscribe.demo.background import DaemonThread  # noqa: F401  (re-exported for tests)


class Subscriber:
    """Collects every message under the base topic, in arrival order, with arrival times."""

    def __init__(self, host: str, port: int, topic: str = "#"):
        self.messages: list[tuple[float, str, bytes, bool]] = []
        self._lock = threading.Lock()
        self._client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"test-sub-{time.monotonic_ns()}")
        self._client.on_message = self._on_message
        self._client.on_connect = lambda c, u, f, rc, p: c.subscribe(topic, qos=1)
        self._client.connect(host, port)
        self._client.loop_start()

    def _on_message(self, client, userdata, msg) -> None:
        with self._lock:
            self.messages.append((time.time(), msg.topic, msg.payload, msg.retain))

    def payloads(self, topic: str) -> list[dict]:
        with self._lock:
            return [json.loads(p) for _, t, p, _ in self.messages if t == topic and p]

    def wait_for(self, predicate, timeout: float = 30.0, what: str = "condition"):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = predicate(self)
            if value:
                return value
            time.sleep(0.05)
        raise AssertionError(f"timed out waiting for {what}; topics seen: {[t for _, t, _, _ in self.messages][-30:]}")

    def publish(self, topic: str, payload: str | bytes = b"") -> None:
        self._client.publish(topic, payload, qos=1).wait_for_publish(5)

    def close(self) -> None:
        self._client.loop_stop()
        self._client.disconnect()


def write_script_wav(tmp: Path, script: str, **synth) -> tuple[Path, list]:
    from roomscribe.emulator.script import parse_script, synthesize, write_wav

    pcm, planned = synthesize(parse_script(script), **synth)
    path = tmp / "meeting.wav"
    write_wav(path, pcm)
    return path, planned


# Tone speech (the emulator's codec) is pure tones: a voice activity detector rightly hears no voice in
# it and would send none of it. Tests that play tone speech turn the voice stage off; the tests of the
# stage play voiced meetings (real speech over the tones) with it on.
TONE_SPEECH = {"vad": {"enabled": False}}
