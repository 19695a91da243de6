"""Who holds the journal: while the daemon's writer has the file open it holds a shared flock(2) on it;
`roomscribe name` writes the journal itself only when it can take an exclusive one, that is when no daemon
has the journal, and asks the daemon over MQTT otherwise. One writer at a time: the daemon's, or (when no
daemon runs) the command line's.

flock(2) locks are separate from the fcntl(2) locks SQLite takes on the same file, and the kernel drops
them with the process (a SIGKILL leaves no stale lock behind). Shared, so that two daemons configured on
one journal by mistake still run as before.
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import time
from pathlib import Path

log = logging.getLogger(__name__)


WAIT_S = 10.0  # a command line holds the journal for one transaction; one that holds it longer is stuck


def share(path: Path, wait_s: float | None = None) -> int:
    """For the daemon's writer, before it opens the file (created 0600 if missing): waits while a command line
    writes, up to `wait_s`; then raises BlockingIOError, a passing condition (the writer keeps what it is given
    in memory and tries again). The descriptor is the lock: close it after the file's connection."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDONLY | os.O_CREAT, 0o600)
    deadline = time.monotonic() + (WAIT_S if wait_s is None else wait_s)
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
                return fd
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise BlockingIOError(errno.EWOULDBLOCK, "another program (roomscribe name?) holds the "
                                                             "journal") from None
                time.sleep(0.02)
            except OSError as exc:  # a filesystem without flock: the daemon writes all the same, unannounced
                log.warning("journal %s: cannot lock it (%s); `roomscribe name` may not see that the daemon has it",
                            path, exc)
                return fd
    except BaseException:
        os.close(fd)
        raise


def alone(path: Path) -> int | None:
    """The journal to oneself (an exclusive lock: no daemon has it open), or None: a daemon holds it, or there
    is no journal at this path. The descriptor is the lock: close it after the file's connection."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # none here, or not ours to read (then not ours to write either)
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    except BaseException:
        os.close(fd)
        raise
    return fd


def release(fd: int | None) -> None:
    if fd is not None:
        os.close(fd)
