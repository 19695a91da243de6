"""A throwaway MQTT broker on a free loopback port for the demo: Mosquitto if installed, else amqtt."""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_listening(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"the MQTT broker did not listen on port {port}")


class DemoBroker:
    def __init__(self, kind: str = "auto") -> None:
        """kind: "mosquitto", "embedded" (amqtt) or "auto" (Mosquitto when installed)."""
        self.port = free_port()
        if kind == "auto":
            kind = "mosquitto" if shutil.which("mosquitto") else "embedded"
        if kind == "mosquitto" and not shutil.which("mosquitto"):
            raise RuntimeError("--broker mosquitto: Mosquitto is not installed (apt-get install mosquitto)")
        self.kind = "mosquitto" if kind == "mosquitto" else "amqtt"
        self._process: subprocess.Popen | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._dir = Path(tempfile.mkdtemp(prefix="roomscribe-broker-"))

    def start(self) -> "DemoBroker":
        if self.kind == "mosquitto":
            conf = self._dir / "mosquitto.conf"
            conf.write_text(f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
            self._process = subprocess.Popen(
                [shutil.which("mosquitto") or "mosquitto", "-c", str(conf)], stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL)
        else:
            started = threading.Event()
            self._thread = threading.Thread(target=self._run_amqtt, args=(started,), name="amqtt", daemon=True)
            self._thread.start()
            started.wait(10)
        _wait_listening(self.port)
        return self

    def _run_amqtt(self, started: threading.Event) -> None:
        import logging

        from amqtt.broker import Broker

        # amqtt logs our own readiness probe (a connect without a packet) as an error; the demo's
        # output is what a subscriber sees, so the embedded broker stays quiet.
        logging.getLogger("amqtt").setLevel(logging.CRITICAL)

        async def serve() -> None:
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            broker = Broker(
                {
                    "listeners": {"default": {"type": "tcp", "bind": f"127.0.0.1:{self.port}"}},
                    "plugins": {
                        "amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True},
                        "amqtt.plugins.sys.broker.BrokerSysPlugin": {"sys_interval": 0},
                    },
                }
            )
            await broker.start()
            started.set()
            await self._stop.wait()
            await broker.shutdown()

        asyncio.run(serve())

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(5)
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(5)
        shutil.rmtree(self._dir, ignore_errors=True)
