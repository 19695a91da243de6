"""The journal's file: its schema and versions, how it is opened for writing and for reading, and what a
failure of SQLite means.

One file, mode 0600, WAL with synchronous=FULL: a commit that returned survives SIGKILL and power loss,
which is what "stored before published" rests on. secure_delete is on, so deleted text does not linger
in free pages. `PRAGMA application_id` marks the file as a roomscribe journal and `user_version` is its
schema version; older versions are migrated in place (`MIGRATIONS`), a newer one is refused and left
alone.

Failures come in two kinds, and only one of them ever moves a file: SQLite's SQLITE_CORRUPT and
SQLITE_NOTADB, or a failed `quick_check`, mean the file is broken (`is_corrupt`); everything else (a
full disk, an I/O error, a file that cannot be opened, a lock) is a condition of the machine that
passes, and the file is kept as it is.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

SCHEMA_VERSION = 2
APPLICATION_ID = 0x52534A31  # "RSJ1"
WAITING, DELIVERED, DROPPED = 0, 1, 2  # utterances.delivery

_V1 = """
CREATE TABLE meetings (
    id TEXT PRIMARY KEY,
    room TEXT NOT NULL,
    started_at REAL NOT NULL,
    ended_at REAL,
    audio_seconds REAL NOT NULL DEFAULT 0,
    paused_seconds REAL NOT NULL DEFAULT 0
);
CREATE INDEX meetings_by_start ON meetings (started_at);
CREATE TABLE epochs (
    meeting_id TEXT NOT NULL REFERENCES meetings (id) ON DELETE CASCADE,
    epoch INTEGER NOT NULL,
    first_at REAL NOT NULL,
    PRIMARY KEY (meeting_id, epoch)
) WITHOUT ROWID;
CREATE TABLE pauses (
    meeting_id TEXT NOT NULL REFERENCES meetings (id) ON DELETE CASCADE,
    started_at REAL NOT NULL,
    ended_at REAL,
    PRIMARY KEY (meeting_id, started_at)
) WITHOUT ROWID;
CREATE TABLE lost (
    meeting_id TEXT NOT NULL REFERENCES meetings (id) ON DELETE CASCADE,
    started_at REAL NOT NULL,
    ended_at REAL NOT NULL,
    seconds REAL NOT NULL,
    reason TEXT NOT NULL,
    PRIMARY KEY (meeting_id, started_at)
) WITHOUT ROWID;
CREATE TABLE utterances (
    id INTEGER PRIMARY KEY,
    meeting_id TEXT NOT NULL REFERENCES meetings (id) ON DELETE CASCADE,
    seq INTEGER NOT NULL,
    speaker TEXT NOT NULL,
    speaker_epoch INTEGER NOT NULL,
    start_at REAL NOT NULL,
    end_at REAL NOT NULL,
    stored_at REAL NOT NULL,
    delivery INTEGER NOT NULL DEFAULT 0,
    payload BLOB NOT NULL,
    UNIQUE (meeting_id, seq)
);
"""
# 2: the names given to voices, per meeting, speaker epoch and label (core/names.py). A name is not part of
# an utterance's stored payload: readers apply the names of now (naming later changes what exports show,
# not the stored utterances).
_V2 = """
CREATE TABLE speaker_names (
    meeting_id TEXT NOT NULL REFERENCES meetings (id) ON DELETE CASCADE,
    speaker_epoch INTEGER NOT NULL,
    speaker TEXT NOT NULL,
    name TEXT NOT NULL,
    named_at REAL NOT NULL,
    PRIMARY KEY (meeting_id, speaker_epoch, speaker)
) WITHOUT ROWID;
"""
# user_version N -> the script that brings a file from N to N + 1. 0 is a new, empty file.
MIGRATIONS = {0: _V1, 1: _V2}


class NotAJournal(sqlite3.DatabaseError):
    """The file is a database, but not this version's journal (a newer schema, or another program's file):
    kept as it is, never moved aside."""


class Corrupt(sqlite3.DatabaseError):
    """The file failed SQLite's quick_check."""


def is_corrupt(exc: BaseException) -> bool:
    if isinstance(exc, Corrupt):
        return True
    code = getattr(exc, "sqlite_errorcode", None)
    return code is not None and code & 0xFF in (11, 26)  # SQLITE_CORRUPT, SQLITE_NOTADB


def is_transient(exc: BaseException) -> bool:
    """A condition of the machine, not of the file or of the write: it passes, and the write can be tried again.
    (A full disk, an I/O error, a file that cannot be opened or is locked or read-only, no memory, a journal of
    a newer version waiting for its roomscribe.)"""
    if isinstance(exc, (OSError, NotAJournal)):
        return True
    code = getattr(exc, "sqlite_errorcode", None)
    # SQLITE_PERM, BUSY, LOCKED, NOMEM, READONLY, IOERR, FULL, CANTOPEN, PROTOCOL
    return code is not None and code & 0xFF in (3, 5, 6, 7, 8, 10, 13, 14, 15)


def describe(exc: BaseException) -> str:
    """`database or disk is full (SQLITE_FULL)`: the message with SQLite's name for it, when there is one."""
    name = getattr(exc, "sqlite_errorname", None)
    text = str(exc) or type(exc).__name__
    if name == "SQLITE_IOERR_SHMSIZE":  # opening the WAL's index on a full disk
        text = "no room on the disk for the journal's WAL index (the disk is full)"
    return f"{text} ({name})" if name else text


def open_for_writing(path: Path) -> sqlite3.Connection:
    """The journal on the calling thread, created (0600) or migrated, checked. Raises what SQLite raised."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():  # created 0600 before SQLite writes a byte: transcripts are private
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
    db = sqlite3.connect(path, isolation_level=None, timeout=10)
    try:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        db.execute("PRAGMA foreign_keys=ON")
        db.execute("PRAGMA secure_delete=ON")
        version = _version(db, path)
        while version < SCHEMA_VERSION:
            db.executescript(f"BEGIN IMMEDIATE; {MIGRATIONS[version]} PRAGMA application_id={APPLICATION_ID}; "
                             f"PRAGMA user_version={version + 1}; COMMIT;")
            version += 1
        check = db.execute("PRAGMA quick_check").fetchone()[0]
        if check != "ok":
            raise Corrupt(f"quick_check: {check}")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        db.close()
        raise
    return db


def open_for_reading(path: Path) -> sqlite3.Connection | None:
    """A read-only connection, or None where there is no journal yet (no file, or an empty one).

    On a full disk SQLite cannot make the WAL's shared-memory file (SQLITE_IOERR_SHMSIZE) that every
    reader needs: then nobody holds the journal open (a writer would have made that file), and it is
    read as it is on disk (`immutable`), which is all there is to read. What waited for the broker
    still goes out, and the commands still list the meetings.
    """
    try:
        if path.stat().st_size == 0:
            return None
    except FileNotFoundError:
        return None
    try:
        return _reader(path, "mode=ro")
    except sqlite3.Error as exc:
        if not is_transient(exc) or isinstance(exc, NotAJournal) or _wal_index_in_use(path):
            raise
        return _reader(path, "mode=ro&immutable=1")


def _wal_index_in_use(path: Path) -> bool:
    """A connection in WAL mode holds a shared-memory file of at least 32 KiB; a smaller one was never made whole."""
    try:
        return Path(f"{path}-shm").stat().st_size >= 32768
    except FileNotFoundError:
        return False


def _reader(path: Path, query: str) -> sqlite3.Connection | None:
    db = sqlite3.connect(f"{path.resolve().as_uri()}?{query}", uri=True, isolation_level=None, timeout=10,
                         check_same_thread=False)
    try:
        if _version(db, path) == 0:
            db.close()
            return None
    except BaseException:
        db.close()
        raise
    return db


def version(db: sqlite3.Connection) -> int:
    """The schema version of an open journal (a reader may hold an older one the daemon has not upgraded yet)."""
    return db.execute("PRAGMA user_version").fetchone()[0]


def _version(db: sqlite3.Connection, path: Path) -> int:
    # One statement, one snapshot: a reader asking while the writer creates the file must not see the version
    # before the first migration's commit and its tables after it (and call the file "not a journal").
    version, application, tables = db.execute(
        "SELECT (SELECT user_version FROM pragma_user_version), (SELECT application_id FROM pragma_application_id), "
        "(SELECT COUNT(*) FROM sqlite_master)").fetchone()
    if version == 0 and application == 0:
        if tables:
            raise NotAJournal(f"{path} is a database, but not a roomscribe journal")
        return 0
    if application != APPLICATION_ID:
        raise NotAJournal(f"{path} is a database, but not a roomscribe journal (an archive or outbox of an older "
                          "roomscribe? the daemon migrates those from their own paths)")
    if version > SCHEMA_VERSION:
        raise NotAJournal(f"the journal {path} has schema {version}, newer than this roomscribe's "
                          f"({SCHEMA_VERSION}); it is left as it is")
    return version
