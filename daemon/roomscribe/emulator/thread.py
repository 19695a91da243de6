"""The emulator on a background thread with its own event loop, for synchronous tests and tools."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from typing import Any, Callable

from roomscribe.emulator.faults import FaultPlan, FaultState
from roomscribe.emulator.record import Record, RecordedPhrase
from roomscribe.emulator.server import Emulator

log = logging.getLogger(__name__)


class EmulatorThread:
    """The emulator on a background thread with its own event loop, for synchronous tests and tools.

        with EmulatorThread(FaultPlan(one_way_delay_ms=25), key="k") as emu:
            ... SpeechConfig(host=emu.host_url, subscription="k") ...
            emu.wait_for(lambda record: len(record.phrases()) >= 2, timeout=30)
    """

    def __init__(self, plan: FaultPlan | None = None, *, key: str | None = None, host: str = "127.0.0.1",
                 port: int = 0, on_phrase: Callable[[RecordedPhrase], None] | None = None):
        self.emulator = Emulator(plan, key=key, host=host, port=port, on_phrase=on_phrase)
        self._loop: asyncio.AbstractEventLoop | None = None
        self.thread = threading.Thread(target=self._run, name="speech-emulator", daemon=True)
        self._ready = threading.Event()
        self._startup_error: BaseException | None = None
        self._stopped: asyncio.Event | None = None

    def start(self) -> EmulatorThread:
        self.thread.start()
        self._ready.wait()
        if self._startup_error is not None:
            raise self._startup_error
        return self

    def stop(self) -> None:
        if self.thread.is_alive() and self._loop is not None and self._stopped is not None:
            self._loop.call_soon_threadsafe(self._stopped.set)
            self.thread.join(timeout=15)

    def __enter__(self) -> EmulatorThread:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except Exception:
            log.exception("the speech emulator's event loop failed")
        finally:
            self._ready.set()  # never leave start() waiting

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopped = asyncio.Event()
        try:
            await self.emulator.start()
        except Exception as exc:  # handed to the thread that called start()
            self._startup_error = exc
            return
        self._ready.set()
        await self._stopped.wait()
        await self.emulator.stop()

    # -- what tests use -------------------------------------------------------------------------------

    @property
    def port(self) -> int:
        return self.emulator.port

    @property
    def host_url(self) -> str:
        return self.emulator.host_url

    @property
    def record(self) -> Record:
        return self.emulator.record

    @property
    def faults(self) -> FaultState:
        return self.emulator.faults

    def wait_for(self, predicate: Callable[[Record], Any], timeout: float = 30.0, what: str = "condition") -> Any:
        """Poll predicate(record) until it returns something truthy, and return that; AssertionError on timeout."""
        deadline = time.monotonic() + timeout
        while True:
            value = predicate(self.record)
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"emulator: timed out after {timeout} s waiting for {what}")
            time.sleep(0.02)

    def close_connections(self, code: int = 1000, reason: str = "", after: float = 0.0) -> None:
        self.emulator.close_connections(code, reason, after)

    def close_idle(self, after: float = 0.0) -> None:
        self.emulator.close_idle(after)

    def mute_connections(self) -> None:
        self.emulator.mute_connections()

    def end_turns(self) -> None:
        self.emulator.end_turns()

    def refuse_upgrades(self, status: int, count: int | None = None) -> None:
        self.faults.refuse_upgrades(status, count)

    def accept_upgrades(self) -> None:
        self.faults.accept_upgrades()

    def set_result_delay(self, milliseconds: float) -> None:
        self.faults.set_result_delay(milliseconds)

    def stop_acknowledging(self) -> None:
        self.faults.stop_acknowledging()

    def resume_acknowledging(self) -> None:
        self.faults.resume_acknowledging()

    def fail_next_phrases(self, status: str = "Error", count: int = 1) -> None:
        self.faults.fail_next_phrases(status, count)

    def set_network_delay(self, *, one_way_ms: float | None = None, handshake_ms: float | None = None) -> None:
        self.faults.set_network_delay(one_way_ms=one_way_ms, handshake_ms=handshake_ms)

    def set_idle_timeout(self, seconds: float | None) -> None:
        self.faults.set_idle_timeout(seconds)
