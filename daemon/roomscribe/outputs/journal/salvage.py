"""What can still be read from a broken SQLite file, and setting the file aside.

A store is moved aside only when SQLite says it is corrupt (schema.is_corrupt). Before that, what
SQLite can still read is taken out: row by row, in the order of a table's key, stepping over what
cannot be read. A table of integer keys is read on past a bad page (probing further keys), so one bad
page costs the rows on it, not the rest of the table. The caller decides what to read first (undelivered
utterances before anything else) and where the rows go.
"""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path
from typing import Iterator

log = logging.getLogger(__name__)

# SQLite in WAL mode keeps a database in up to three files.
SQLITE_SUFFIXES = ("", "-wal", "-shm")
_PROBES = (1, 2, 5, 10, 50, 100, 500, 1000, 5000, 10000, 100000, 1000000)


def open_damaged(path: Path) -> sqlite3.Connection | None:
    """A read-only connection to a file that may be broken; None if SQLite cannot even open it."""
    for query in ("mode=ro", "mode=ro&immutable=1"):  # immutable: without the WAL, if the WAL is what hurts
        try:
            db = sqlite3.connect(f"{path.resolve().as_uri()}?{query}", uri=True, isolation_level=None)
            db.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
            return db
        except sqlite3.Error as exc:
            log.info("salvage: %s cannot be opened with %s: %s", path, query, exc)
    return None


def rows(db: sqlite3.Connection, sql: str, args: tuple = (), *, strict: bool = False) -> list[tuple]:
    """Every row a query yields until SQLite fails (the rows before the failure are kept); `strict`: the
    failure is raised instead, for a file that is not known to be broken."""
    if strict:
        return db.execute(sql, args).fetchall()
    found: list[tuple] = []
    try:
        for row in db.execute(sql, args):
            found.append(row)
    except sqlite3.Error as exc:
        log.warning("salvage: %s stopped after %d rows: %s", sql.split(" FROM ")[-1][:60], len(found), exc)
    return found


def keyed_rows(db: sqlite3.Connection, columns: str, table: str, key: str, where: str = "", *,
               strict: bool = False) -> Iterator[tuple]:
    """Rows of a table with an integer key, in key order; keys that cannot be read are stepped over (`strict`:
    the failure is raised). The key must be the first column."""
    condition = f" AND ({where})" if where else ""
    sql = f"SELECT {columns} FROM {table} WHERE {key} > ?{condition} ORDER BY {key}"
    after = -(2**63)
    if strict:
        yield from db.execute(sql, (after,))
        return
    while True:
        try:
            for row in db.execute(sql, (after,)):
                yield row
                after = row[0]
            return
        except sqlite3.Error as exc:
            log.warning("salvage: %s could not be read after key %d: %s", table, after, exc)
        readable = _next_readable(db, sql, after)  # find where reading works again
        if readable is None:
            return
        after = readable


def _next_readable(db: sqlite3.Connection, sql: str, after: int) -> int | None:
    for step in _PROBES:
        try:
            db.execute(sql, (after + step,)).fetchone()
            log.warning("salvage: keys %d..%d skipped", after + 1, after + step)
            return after + step
        except sqlite3.Error:
            continue
    return None


def move_aside(path: Path, now: float) -> Path:
    """Rename `path` and its WAL and shared-memory files to `<name>.corrupt-<now>`; the new name of `path`.
    Kept, not deleted: it can still be looked at."""
    aside = path.with_name(f"{path.name}.corrupt-{int(now)}")
    for suffix in SQLITE_SUFFIXES:
        src = Path(str(path) + suffix)
        if src.exists():
            src.rename(Path(str(aside) + suffix))
    return aside


def remove(path: Path) -> None:
    """Delete a store and its WAL and shared-memory files (once what it held is safe elsewhere)."""
    for suffix in SQLITE_SUFFIXES:
        Path(str(path) + suffix).unlink(missing_ok=True)
