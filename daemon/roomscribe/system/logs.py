"""Logging set-up: syslog level prefixes when stderr is the journal, plain lines otherwise.

Under systemd, stderr is a stream to journald and $JOURNAL_STREAM holds that stream's
"device:inode". When they match, each line starts with `<N>` (sd-daemon(3)): journald takes N as the
priority and strips it, so `journalctl -p err -u roomscribe` finds errors. No time stamps there: the
journal has its own. Anywhere else (a terminal, a pipe, a file): `LEVEL name: message` lines.

The level comes from the command line (`--log-level`, `-v`), else from the configuration's
`log.level` (see apply_config_level), else INFO.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import TextIO

LEVELS = ("debug", "info", "warning", "error")
PLAIN_FORMAT = "%(levelname)s %(name)s: %(message)s"

# syslog priorities (sd-daemon(3)): 2 crit, 3 err, 4 warning, 6 info, 7 debug.
_PRIORITIES = ((logging.CRITICAL, 2), (logging.ERROR, 3), (logging.WARNING, 4), (logging.INFO, 6))


def priority(levelno: int) -> int:
    """The syslog priority of a Python log level."""
    for threshold, value in _PRIORITIES:
        if levelno >= threshold:
            return value
    return 7


def is_journal(stream: TextIO, journal_stream: str | None = None) -> bool:
    """True when `stream` is the one $JOURNAL_STREAM names ("device:inode", both decimal)."""
    value = os.environ.get("JOURNAL_STREAM") if journal_stream is None else journal_stream
    if not value:
        return False
    try:
        device, inode = (int(part) for part in value.split(":"))
        st = os.fstat(stream.fileno())
    except (ValueError, OSError, AttributeError):
        return False  # malformed, or a stream without a file descriptor (a test's StringIO)
    return st.st_dev == device and st.st_ino == inode


class JournalFormatter(logging.Formatter):
    """`<N>name: message`, and every further line of the record (a traceback) with the same `<N>`:
    journald reads each line as an entry of its own."""

    def __init__(self) -> None:
        super().__init__("%(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        prefix = f"<{priority(record.levelno)}>"
        return "\n".join(prefix + line for line in super().format(record).splitlines() or [""])


class _Handler(logging.StreamHandler):
    """Marks the handler this module installed, so that setup() can replace it."""


def setup(level: str | int | None = None, stream: TextIO | None = None) -> logging.Handler:
    """Configure the root logger once per process (again replaces what an earlier call installed).

    `level` is a name from LEVELS (any case) or a logging number; None keeps INFO.
    """
    stream = sys.stderr if stream is None else stream
    root = logging.getLogger()
    for handler in [h for h in root.handlers if isinstance(h, _Handler)]:
        root.removeHandler(handler)
    handler = _Handler(stream)
    handler.setFormatter(JournalFormatter() if is_journal(stream) else logging.Formatter(PLAIN_FORMAT))
    root.addHandler(handler)
    root.setLevel(to_level(level) if level is not None else logging.INFO)
    # transitions logs every callback at INFO; our own state log says what matters.
    logging.getLogger("transitions").setLevel(logging.WARNING)
    return handler


def configured_elsewhere() -> bool:
    """True when the root logger has handlers this module did not install."""
    return any(not isinstance(h, _Handler) for h in logging.getLogger().handlers)


def set_level(level: str | int) -> None:
    logging.getLogger().setLevel(to_level(level))


def to_level(level: str | int) -> int:
    if isinstance(level, int):
        return level
    if level.lower() not in LEVELS:
        raise ValueError(f"unknown log level {level!r}: one of {', '.join(LEVELS)}")
    return getattr(logging, level.upper())


def cli_level(args) -> str | None:
    """The level the command line asked for (`--log-level`, or `-v` for debug), None when neither."""
    if getattr(args, "log_level", None):
        return args.log_level
    if getattr(args, "verbose", False):
        return "debug"
    return None


def apply_config_level(args, config_level: str) -> None:
    """For `run`: the configuration's `log.level` applies unless the command line chose a level."""
    if cli_level(args) is None:
        set_level(config_level)
