"""The daemon under test: the real daemon in-process on its own thread and event loop; and an MQTT subscriber.

Tests, benchmarks and scripts/page_screenshots.py use it; the product does not (the demo runs the daemon on
its own main thread, demo/run.py). It reaches the daemon only through its public surface: `run_daemon`,
`Daemon.diagnostics()`, `Daemon.on_command`, and `call` to run something on the owner's loop.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from pathlib import Path
from typing import Any, Callable

import paho.mqtt.client as mqtt

from roomscribe.app.daemon import Daemon
from roomscribe.app.run import run_daemon
from roomscribe.config import Settings

START_S = 20.0
CALL_S = 10.0


class DaemonThread:
    """`run_daemon(settings, **options)` on a thread of its own; `daemon` is the owner once built."""

    def __init__(self, settings: Settings, **options: Any):
        """`options`: run_daemon's keywords (a `session_factory` that wraps the real one, …)."""
        self.settings = settings
        self.options = options
        self.daemon: Daemon | None = None
        self.exit_code: int | None = None
        self.error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._built = threading.Event()
        self._thread = threading.Thread(target=self._main, name="daemon-under-test", daemon=True)

    def _main(self) -> None:
        async def body() -> int:
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()

            def built(daemon: Daemon) -> None:
                self.daemon = daemon
                self._built.set()

            return await run_daemon(self.settings, stop=self._stop, on_built=built, **self.options)

        try:
            self.exit_code = asyncio.run(body())
        except BaseException as exc:  # reported to the test through .error
            self.error = exc
        finally:
            self._built.set()

    def start(self) -> "DaemonThread":
        self._thread.start()
        if not self._built.wait(START_S):
            raise TimeoutError(f"the daemon was not built within {START_S:.0f} s")
        if self.error:
            raise self.error
        return self

    def call(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run fn on the daemon's loop (the owner's thread) and return its result."""
        if self._loop is None:
            raise RuntimeError("the daemon is not running")
        done = threading.Event()
        box: dict[str, Any] = {}

        def run() -> None:
            try:
                box["value"] = fn(*args)
            except BaseException as exc:
                box["error"] = exc
            done.set()

        self._loop.call_soon_threadsafe(run)
        if not done.wait(CALL_S):
            raise TimeoutError(f"the owner's loop did not run {fn!r} within {CALL_S:.0f} s")
        if "error" in box:
            raise box["error"]
        return box["value"]

    def stop(self, timeout: float = 15) -> int | None:
        if self._loop is not None and self._stop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise TimeoutError(f"the daemon did not stop within {timeout:.0f} s")
        if self.error:
            raise self.error
        return self.exit_code

    def __enter__(self) -> "DaemonThread":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


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
