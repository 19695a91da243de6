"""systemd's side of sd_notify for tests: a datagram socket that records what a process reports.

    with NotifySocket() as sock:
        proc = subprocess.Popen(cmd, env={**os.environ, **sock.env(watchdog_sec=2)})
        sock.wait_for("READY", "1", timeout=60)
        ...
        assert [m.sender_pid for m in sock.messages("WATCHDOG")] == [proc.pid] * n

Each datagram becomes a NotifyMessage with its fields, the time it arrived (time.monotonic()) and the
sender's pid (from SO_PASSCRED, as systemd checks NotifyAccess=main). The `notify_socket` fixture gives
one per test; import it into a test module to use it.
"""

from __future__ import annotations

import os
import shutil
import socket
import struct
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Mapping

import pytest

_CREDENTIALS = struct.Struct("3i")  # struct ucred: pid, uid, gid


@dataclass(frozen=True)
class NotifyMessage:
    raw: bytes
    fields: Mapping[str, str]
    received_at: float  # time.monotonic() when the datagram was read
    sender_pid: int | None

    def get(self, key: str) -> str | None:
        return self.fields.get(key)


def parse_datagram(raw: bytes) -> dict[str, str]:
    """KEY=VALUE lines as systemd reads them (UTF-8; lines without '=' ignored)."""
    fields: dict[str, str] = {}
    for line in raw.decode("utf-8", errors="replace").split("\n"):
        key, sep, value = line.partition("=")
        if sep:
            fields[key] = value
    return fields


class NotifySocket:
    """Binds an AF_UNIX datagram socket in a fresh temp dir and collects messages on a thread."""

    def __init__(self, abstract: bool = False):
        # A short directory of its own: socket paths are limited to 107 bytes.
        self._dir = Path(tempfile.mkdtemp(prefix="rs-notify-"))
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        if abstract:
            name = f"roomscribe-test-{os.getpid()}-{id(self):x}"
            self._sock.bind("\0" + name)
            self.address = "@" + name
        else:
            path = self._dir / "notify.sock"
            self._sock.bind(str(path))
            self.address = str(path)
        self._sock.settimeout(0.2)
        self._messages: list[NotifyMessage] = []
        self._changed = threading.Condition()
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._collect, name="notify-socket", daemon=True)
        self._thread.start()

    def env(self, watchdog_sec: float | None = None, watchdog_pid: int | None = None) -> dict[str, str]:
        """Variables systemd would set for a Type=notify service (with WatchdogSec= if given)."""
        env = {"NOTIFY_SOCKET": self.address}
        if watchdog_sec is not None:
            env["WATCHDOG_USEC"] = str(int(watchdog_sec * 1_000_000))
            if watchdog_pid is not None:
                env["WATCHDOG_PID"] = str(watchdog_pid)
        return env

    def messages(self, key: str | None = None) -> list[NotifyMessage]:
        """Everything received so far, oldest first; only those carrying `key` if given."""
        with self._changed:
            found = list(self._messages)
        return [m for m in found if key is None or key in m.fields]

    def wait_for(self, key: str, value: str | None = None, timeout: float = 30.0,
                 after: int = 0) -> NotifyMessage:
        """The first message (from index `after` on) with key (=value); AssertionError on timeout."""
        def match(m: NotifyMessage) -> bool:
            return key in m.fields and (value is None or m.fields[key] == value)

        return self.wait_until(match, timeout, after, description=f"{key}={value or '*'}")

    def wait_until(self, predicate: Callable[[NotifyMessage], bool], timeout: float = 30.0,
                   after: int = 0, description: str = "a matching message") -> NotifyMessage:
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for message in self._messages[after:]:
                    if predicate(message):
                        return message
                left = deadline - time.monotonic()
                if left <= 0:
                    seen = [m.raw for m in self._messages]
                    raise AssertionError(f"no {description} within {timeout} s; received {seen!r}")
                self._changed.wait(min(left, 0.5))

    def close(self) -> None:
        self._closed.set()
        self._thread.join(5)
        self._sock.close()
        shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> "NotifySocket":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def _collect(self) -> None:
        ancillary_size = socket.CMSG_SPACE(_CREDENTIALS.size)
        while not self._closed.is_set():
            try:
                raw, ancillary, _flags, _addr = self._sock.recvmsg(4096, ancillary_size)
            except TimeoutError:
                continue
            except OSError:
                return
            received_at = time.monotonic()
            sender_pid = None
            for level, kind, data in ancillary:
                if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                    sender_pid = _CREDENTIALS.unpack(data[: _CREDENTIALS.size])[0]
            message = NotifyMessage(raw, MappingProxyType(parse_datagram(raw)), received_at, sender_pid)
            with self._changed:
                self._messages.append(message)
                self._changed.notify_all()


@pytest.fixture
def notify_socket():
    sock = NotifySocket()
    try:
        yield sock
    finally:
        sock.close()
