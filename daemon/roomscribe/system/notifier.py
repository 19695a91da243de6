"""The notifier seam: what the owner tells the service manager. system/systemd.py implements it."""

from __future__ import annotations

from typing import Protocol


class ServiceNotifier(Protocol):
    def ready(self) -> None: ...

    def status(self, text: str) -> None: ...

    def watchdog(self) -> None: ...

    def stopping(self) -> None: ...

    def watchdog_interval(self) -> float | None: ...
