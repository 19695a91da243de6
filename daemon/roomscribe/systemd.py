"""sd_notify for the daemon: READY, STATUS, WATCHDOG and STOPPING, sent with the `sdnotify` package.

Every call is a no-op outside systemd (no $NOTIFY_SOCKET) and none raises: a lost notification must
never take the daemon down, and systemd notices a missing READY or watchdog ping on its own.
"""

from __future__ import annotations

import logging
import os
import re

import sdnotify

log = logging.getLogger(__name__)

# sd_notify is newline-separated KEY=VALUE; a newline inside STATUS= would smuggle in another
# assignment (READY=1, MAINPID=…), so control characters are flattened to spaces.
_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f]+")
STATUS_MAX_CHARS = 400  # a datagram must fit systemd's receive buffer with room to spare


class Notifier:
    """Tells systemd how the daemon is doing. Use from the owner's loop; cheap enough to call often."""

    def __init__(self) -> None:
        # Read once, at construction: the same variables sdnotify reads when it connects.
        self._socket_address = os.environ.get("NOTIFY_SOCKET") or None
        self._watchdog_usec = os.environ.get("WATCHDOG_USEC")
        self._watchdog_pid = os.environ.get("WATCHDOG_PID")
        self._client: sdnotify.SystemdNotifier | None = None
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

    def _send(self, message: str) -> None:
        if self._socket_address is None:
            return
        # sdnotify encodes as Latin-1 while systemd reads UTF-8: hand it the UTF-8 bytes as Latin-1
        # code points so that the datagram carries exactly those bytes.
        wire = message.encode("utf-8").decode("latin-1")
        for attempt in (1, 2):
            try:
                if self._client is None:
                    self._client = sdnotify.SystemdNotifier(debug=True)  # debug: raise, so we can log
                self._client.notify(wire)
                return
            except Exception as exc:  # never into the caller: a notification is best effort
                self._client = None  # the socket may have been re-created (daemon-reexec): reconnect once
                if attempt == 2:
                    self._warn(message, exc)

    def _warn(self, message: str, exc: Exception) -> None:
        if self._warned:
            log.debug("sd_notify %s failed: %s", message.split("=", 1)[0], exc)
            return
        self._warned = True  # the watchdog pings every few seconds: say it once
        log.warning("cannot notify systemd at %s (%s); further failures are logged at debug level",
                    self._socket_address, exc)
