"""Named one-shot timers on the owner's loop: the machine's retry and release timers."""

from __future__ import annotations

import asyncio
from typing import Callable


class Timers:
    """Arming a name again replaces its timer; a fired timer forgets itself before it runs."""

    def __init__(self) -> None:
        self._handles: dict[str, asyncio.TimerHandle] = {}

    def schedule(self, loop: asyncio.AbstractEventLoop, name: str, delay: float, fire: Callable[[], None]) -> None:
        self.cancel(name)

        def run() -> None:
            self._handles.pop(name, None)
            fire()

        self._handles[name] = loop.call_later(delay, run)

    def cancel(self, name: str) -> None:
        handle = self._handles.pop(name, None)
        if handle is not None:
            handle.cancel()

    def cancel_all(self) -> None:
        for handle in self._handles.values():
            handle.cancel()
        self._handles.clear()
