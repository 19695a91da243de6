"""The live page from the outside: Debian's chromium through Playwright, and a plain SSE reader.

    browser = launch_chromium(playwright)         # /usr/bin/chromium, headless, no sandbox (tests run as root)
    feed = SseReader("127.0.0.1", port)           # a thread reading /api/feed; feed.events, feed.wait_for(...)

Playwright's own browser download is not reachable here: the tests drive the Debian package.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
from dataclasses import dataclass

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]


def launch_chromium(playwright):
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


@pytest.fixture(scope="module")
def browser():
    """Debian's chromium, one for the tests of a module (import the fixture where it is used)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = launch_chromium(playwright)
        yield chromium
        chromium.close()


@dataclass(frozen=True)
class SseEvent:
    kind: str
    data: dict
    id: str | None
    at: float


class SseReader:
    """Reads the feed on a thread of its own, as EventSource would (without reconnecting)."""

    def __init__(self, host: str, port: int, *, last_event_id: str | None = None, headers: dict | None = None,
                 path: str = "/api/feed"):
        self.events: list[SseEvent] = []
        self.status: int | None = None
        self.closed = threading.Event()
        self._lock = threading.Lock()
        self._connection = http.client.HTTPConnection(host, port, timeout=30)
        headers = dict(headers or {})
        if last_event_id:
            headers["Last-Event-ID"] = last_event_id
        self._connection.request("GET", path, headers=headers)
        self._response = self._connection.getresponse()
        self.status = self._response.status
        self._thread = threading.Thread(target=self._read, name="sse-reader", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        kind, data, event_id = "message", [], None
        try:
            while True:
                line = self._response.fp.readline()
                if not line:
                    return
                line = line.decode("utf-8").rstrip("\n")
                if not line:
                    if data:
                        with self._lock:
                            self.events.append(SseEvent(kind, json.loads("\n".join(data)), event_id, time.time()))
                    kind, data, event_id = "message", [], None
                    continue
                field, _, value = line.partition(":")
                value = value[1:] if value.startswith(" ") else value
                if field == "event":
                    kind = value
                elif field == "data":
                    data.append(value)
                elif field == "id":
                    event_id = value
        except (OSError, ValueError):
            return
        finally:
            self.closed.set()

    def of(self, kind: str) -> list[SseEvent]:
        with self._lock:
            return [e for e in self.events if e.kind == kind]

    def wait_for(self, predicate, timeout: float = 10.0, what: str = "a condition"):
        deadline = time.monotonic() + timeout
        while True:
            value = predicate(self)
            if value:
                return value
            if time.monotonic() > deadline:
                kinds = [e.kind for e in self.events[-20:]]
                raise AssertionError(f"feed: timed out waiting for {what}; last events: {kinds}")
            time.sleep(0.02)

    def close(self) -> None:
        try:
            self._connection.sock.shutdown(2) if self._connection.sock else None
        except OSError:
            pass
        self._connection.close()
        self._thread.join(5)
