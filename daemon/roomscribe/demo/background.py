"""Runs the real daemon on a thread with its own event loop: for the demo, tests and benchmarks."""

from __future__ import annotations

import asyncio
import threading

from roomscribe.app.daemon import Daemon
from roomscribe.app.run import run_daemon
from roomscribe.config import Settings


class DaemonThread:
    def __init__(self, settings: Settings):
        self.settings = settings
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

            return await run_daemon(self.settings, stop=self._stop, on_built=built)

        try:
            self.exit_code = asyncio.run(body())
        except BaseException as exc:  # reported to the test through .error
            self.error = exc
        finally:
            self._built.set()

    def start(self) -> "DaemonThread":
        self._thread.start()
        assert self._built.wait(20), "daemon did not start"
        if self.error:
            raise self.error
        return self

    def call(self, fn, *args):
        """Run fn on the daemon's loop (the owner's thread) and return its result."""
        done = threading.Event()
        box: dict = {}

        def run():
            try:
                box["value"] = fn(*args)
            except BaseException as exc:
                box["error"] = exc
            done.set()

        self._loop.call_soon_threadsafe(run)
        assert done.wait(10)
        if "error" in box:
            raise box["error"]
        return box["value"]

    def stop(self, timeout: float = 15) -> int | None:
        if self._loop is not None and self._stop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout)
        assert not self._thread.is_alive(), "daemon did not stop"
        if self.error:
            raise self.error
        return self.exit_code

    def __enter__(self) -> "DaemonThread":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
