"""sd_notify for the daemon: READY, STATUS, WATCHDOG and STOPPING, as datagrams to $NOTIFY_SOCKET.

The protocol (sd_notify(3)) is one AF_UNIX datagram of newline-separated KEY=VALUE assignments, UTF-8,
sent to the socket named by $NOTIFY_SOCKET: a path, or an abstract socket name written with a leading
'@' (the kernel's name starts with a NUL byte instead). The standard library does it in a few lines,
so no package is needed (the `sdnotify` package used before had its last release in 2017 and encoded
as Latin-1).

Every call is a no-op outside systemd (no $NOTIFY_SOCKET) and none raises: a lost notification must
never take the daemon down, and systemd notices a missing READY or watchdog ping on its own.
"""

from __future__ import annotations

import logging
import os
import re
import socket

log = logging.getLogger(__name__)

# sd_notify is newline-separated KEY=VALUE; a newline inside STATUS= would smuggle in another
# assignment (READY=1, MAINPID=…), so control characters are flattened to spaces.
_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f]+")
STATUS_MAX_CHARS = 400  # a datagram must fit systemd's receive buffer with room to spare


def socket_address(name: str) -> str | bytes | None:
    """The address to send to for a $NOTIFY_SOCKET value: a path, or '@name' as the abstract b'\\0name'.

    None for values systemd would not give (empty, relative paths, 'vsock:' addresses, which this
    daemon does not support).
    """
    if name.startswith("@") and len(name) > 1:
        return b"\0" + name[1:].encode("utf-8")
    if name.startswith("/"):
        return name
    return None


class Notifier:
    """Tells systemd how the daemon is doing. Use from the owner's loop; cheap enough to call often."""

    def __init__(self) -> None:
        # Read once, at construction (never at import time).
        self._socket_address = os.environ.get("NOTIFY_SOCKET") or None
        self._watchdog_usec = os.environ.get("WATCHDOG_USEC")
        self._watchdog_pid = os.environ.get("WATCHDOG_PID")
        self._socket: socket.socket | None = None
        self._warned = False

    @property
    def enabled(self) -> bool:
        """True when started by systemd with a notify socket (Type=notify)."""
        return self._socket_address is not None

    def ready(self) -> None:
        self._send("READY=1")

    def status(self, text: str) -> None:
        """One line shown by `systemctl status`; shortened and stripped of control characters."""
        flat = _CONTROL_CHARS.sub(" ", str(text)).strip()
        if len(flat) > STATUS_MAX_CHARS:
            flat = flat[: STATUS_MAX_CHARS - 1] + "…"
        self._send(f"STATUS={flat}")

    def watchdog(self) -> None:
        self._send("WATCHDOG=1")

    def stopping(self) -> None:
        self._send("STOPPING=1")

    def watchdog_interval(self) -> float | None:
        """WatchdogSec= in seconds, or None when systemd expects no pings from this process."""
        try:
            usec = int(self._watchdog_usec or 0)
            if self._watchdog_pid and int(self._watchdog_pid) != os.getpid():
                return None  # the variables were meant for a parent process
        except ValueError:
            log.warning("ignoring a malformed watchdog setting: WATCHDOG_USEC=%r WATCHDOG_PID=%r",
                        self._watchdog_usec, self._watchdog_pid)
            return None
        return usec / 1_000_000 if usec > 0 else None

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None

    def _send(self, message: str) -> None:
        if self._socket_address is None:
            return
        address = socket_address(self._socket_address)
        if address is None:
            self._warn(message, ValueError(f"unsupported NOTIFY_SOCKET {self._socket_address!r}"))
            return
        wire = message.encode("utf-8")
        for attempt in (1, 2):
            try:
                if self._socket is None:
                    self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
                self._socket.sendto(wire, address)
                return
            except Exception as exc:  # never into the caller: a notification is best effort
                # The socket may have been re-created (daemon-reexec): a fresh one is tried once.
                self.close()
                if attempt == 2:
                    self._warn(message, exc)

    def _warn(self, message: str, exc: Exception) -> None:
        if self._warned:
            log.debug("sd_notify %s failed: %s", message.split("=", 1)[0], exc)
            return
        self._warned = True  # the watchdog pings every few seconds: say it once
        log.warning("cannot notify systemd at %s (%s); further failures are logged at debug level",
                    self._socket_address, exc)
