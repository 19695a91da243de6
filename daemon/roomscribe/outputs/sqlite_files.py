"""What the outputs' SQLite files (the outbox, the archive) share: a file that is no database is set aside."""

from __future__ import annotations

from pathlib import Path

# SQLite in WAL mode keeps a database in up to three files.
SQLITE_SUFFIXES = ("", "-wal", "-shm")


def move_aside(path: Path, now: float) -> Path:
    """Rename `path` and its WAL and shared-memory files to `<name>.corrupt-<now>`; the new name of `path`.

    An unreadable file would stop the daemon on every start; kept aside, it can still be looked at.
    """
    aside = path.with_name(f"{path.name}.corrupt-{int(now)}")
    for suffix in SQLITE_SUFFIXES:
        src = Path(str(path) + suffix)
        if src.exists():
            src.rename(Path(str(aside) + suffix))
    return aside
