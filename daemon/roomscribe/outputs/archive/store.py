"""The archive: meetings, their pauses and speaker epochs, and their final utterances, in SQLite.

Its own file (not the outbox), mode 0600, WAL with synchronous=FULL: a write that committed survives
SIGKILL and power loss, which is what lets the daemon keep "stored before published" (a catch-up
never misses an utterance a subscriber already saw live). secure_delete is on, and a forget
checkpoints the WAL, so deleted text does not linger in free pages. Never audio: a pause is kept as
its start and end times only.

One `ArchiveStore` is one connection; it is not shared between threads. The daemon writes through
`writer.ArchiveWriter` (one thread owns the writing connection); readers (catch-up, the command line)
open their own, read-only if they like. Times are epoch seconds, as in `records.Utterance`.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

from roomscribe.core.records import Utterance
from roomscribe.outputs.archive.meetings import Meeting
from roomscribe.outputs.archive.reading import UTTERANCE_COLUMNS, ArchiveReading
from roomscribe.outputs.sqlite_files import move_aside

log = logging.getLogger(__name__)

SCHEMA_VERSION = 2
_UPGRADES = {1: "ALTER TABLE utterances ADD COLUMN clock_synchronized INTEGER NOT NULL DEFAULT 1;"}  # from version
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meetings (
    id TEXT PRIMARY KEY,
    room TEXT NOT NULL,
    started_at REAL NOT NULL,
    ended_at REAL,
    audio_seconds REAL NOT NULL DEFAULT 0,
    paused_seconds REAL NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS meetings_by_start ON meetings (started_at);
CREATE TABLE IF NOT EXISTS epochs (
    meeting_id TEXT NOT NULL REFERENCES meetings (id) ON DELETE CASCADE,
    epoch INTEGER NOT NULL,
    first_at REAL NOT NULL,
    PRIMARY KEY (meeting_id, epoch)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS pauses (
    meeting_id TEXT NOT NULL REFERENCES meetings (id) ON DELETE CASCADE,
    started_at REAL NOT NULL,
    ended_at REAL,
    PRIMARY KEY (meeting_id, started_at)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS utterances (
    meeting_id TEXT NOT NULL REFERENCES meetings (id) ON DELETE CASCADE,
    seq INTEGER NOT NULL,
    speaker TEXT NOT NULL,
    speaker_epoch INTEGER NOT NULL,
    text TEXT NOT NULL,
    start_at REAL NOT NULL,
    end_at REAL NOT NULL,
    offset_ms INTEGER NOT NULL,
    duration_ms INTEGER NOT NULL,
    language TEXT NOT NULL,
    room TEXT NOT NULL,
    clock_synchronized INTEGER NOT NULL DEFAULT 1,
    PRIMARY KEY (meeting_id, seq)
) WITHOUT ROWID;
"""


class ArchiveStore(ArchiveReading):
    def __init__(self, path: Path | str, *, readonly: bool = False, clock: Callable[[], float] = time.time):
        self.path = Path(path)
        self.readonly = readonly
        self._clock = clock
        self._db = _connect_readonly(self.path) if readonly else _open(self.path, clock)

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One transaction (one fsync) around several writes; nested uses join the outer one."""
        if self._db.in_transaction:
            yield
            return
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
            self._db.execute("COMMIT")
        except BaseException:
            if self._db.in_transaction:  # a failed COMMIT (disk full) can leave it open: never join it later
                self._db.execute("ROLLBACK")
            raise

    # -- writing: what the daemon records ----------------------------------------------------------

    def meeting_started(self, meeting_id: str, room: str, at: float, speaker_epoch: int | None = None) -> None:
        with self.transaction():
            self._db.execute(
                "INSERT INTO meetings (id, room, started_at) VALUES (?, ?, ?) ON CONFLICT (id) DO NOTHING",
                (meeting_id, room, at),
            )
            if speaker_epoch is not None:
                self._epoch(meeting_id, speaker_epoch, at)

    def meeting_ended(self, meeting_id: str, at: float, paused_s: float | None = None) -> None:
        """Ends the meeting and a pause still open; a second end keeps the first. `paused_s`: the paused time
        measured on the monotonic clock (the `meeting_ended` event's), which no step of the wall clock skews."""
        with self.transaction():
            self.pause_ended(meeting_id, at)
            self._db.execute("UPDATE meetings SET ended_at = ?, paused_seconds = coalesce(?, paused_seconds) "
                             "WHERE id = ? AND ended_at IS NULL", (at, paused_s, meeting_id))

    def pause_started(self, meeting_id: str, at: float) -> None:
        with self.transaction():
            open_pause = self._db.execute(
                "SELECT 1 FROM pauses WHERE meeting_id = ? AND ended_at IS NULL", (meeting_id,)
            ).fetchone()
            if open_pause is None and self._known(meeting_id, "pause"):
                self._db.execute(
                    "INSERT INTO pauses (meeting_id, started_at) VALUES (?, ?) ON CONFLICT DO NOTHING", (meeting_id, at)
                )

    def pause_ended(self, meeting_id: str, at: float) -> None:
        with self.transaction():
            row = self._db.execute(
                "SELECT started_at FROM pauses WHERE meeting_id = ? AND ended_at IS NULL", (meeting_id,)
            ).fetchone()
            if row is None:
                return  # no open pause: a repeated resume changes nothing
            end = max(at, row[0])
            self._db.execute(
                "UPDATE pauses SET ended_at = ? WHERE meeting_id = ? AND started_at = ?", (end, meeting_id, row[0])
            )
            self._db.execute(
                "UPDATE meetings SET paused_seconds = paused_seconds + ? WHERE id = ?", (end - row[0], meeting_id)
            )

    def speaker_epoch(self, meeting_id: str, epoch: int, at: float) -> None:
        """A (new) cloud session began: its labels start again at Guest-1."""
        with self.transaction():
            if self._known(meeting_id, "speaker epoch"):
                self._epoch(meeting_id, epoch, at)

    def add_utterance(self, utterance: Utterance) -> bool:
        """Idempotent on (meeting_id, seq): the first copy is kept. True if it was new.

        An utterance of a meeting never started here (the archive was switched on mid-meeting) starts
        the meeting at the utterance's start.
        """
        u = utterance
        with self.transaction():
            self._db.execute(
                "INSERT INTO meetings (id, room, started_at) VALUES (?, ?, ?) ON CONFLICT (id) DO NOTHING",
                (u.meeting_id, u.room, u.start),
            )
            cursor = self._db.execute(
                f"INSERT INTO utterances ({UTTERANCE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (meeting_id, seq) DO NOTHING",
                (u.meeting_id, u.seq, u.speaker, u.speaker_epoch, u.text, u.start, u.end, u.offset_ms,
                 u.duration_ms, u.language, u.room, u.clock_synchronized),
            )
            if cursor.rowcount:
                self._epoch(u.meeting_id, u.speaker_epoch, u.start)
            return bool(cursor.rowcount)

    def clock_stepped(self, meeting_id: str, step_s: float) -> None:
        """The wall clock stepped during this running meeting: its times recorded so far move by `step_s`."""
        with self.transaction():
            if self._db.execute("SELECT 1 FROM meetings WHERE id = ? AND ended_at IS NULL", (meeting_id,)).fetchone():
                for table, columns in (("meetings", ("started_at",)), ("pauses", ("started_at", "ended_at")),
                                       ("epochs", ("first_at",)), ("utterances", ("start_at", "end_at"))):
                    moved = ", ".join(f"{c} = {c} + :step" for c in columns)
                    key = "id" if table == "meetings" else "meeting_id"
                    self._db.execute(f"UPDATE {table} SET {moved} WHERE {key} = :id", {"step": step_s, "id": meeting_id})

    def set_audio_seconds(self, meeting_id: str, total_seconds: float) -> None:
        """The meeting's total of audio sent to the speech service so far (a total: repeating it is harmless)."""
        self._db.execute("UPDATE meetings SET audio_seconds = ? WHERE id = ?", (total_seconds, meeting_id))

    def end_unfinished(self, room: str) -> list[str]:
        """Close this room's meetings that never got an end (the daemon died): at their last known moment.

        Call before the daemon's first meeting; until then they count as running ("current") and
        retention keeps them.
        """
        with self.transaction():
            ids = [row[0] for row in self._db.execute(
                "SELECT id FROM meetings WHERE room = ? AND ended_at IS NULL", (room,))]
            for meeting_id in ids:
                last = self._db.execute(
                    """SELECT MAX(t) FROM (
                           SELECT started_at AS t FROM meetings WHERE id = :m
                           UNION ALL SELECT MAX(end_at) FROM utterances WHERE meeting_id = :m
                           UNION ALL SELECT MAX(started_at) FROM pauses WHERE meeting_id = :m
                           UNION ALL SELECT MAX(first_at) FROM epochs WHERE meeting_id = :m)""",
                    {"m": meeting_id},
                ).fetchone()[0]
                self.meeting_ended(meeting_id, last)
        if ids:
            log.warning("archive: closed %d meeting(s) the daemon had not ended: %s", len(ids), ", ".join(ids))
        return ids

    def _epoch(self, meeting_id: str, epoch: int, at: float) -> None:
        self._db.execute(
            "INSERT INTO epochs (meeting_id, epoch, first_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
            (meeting_id, epoch, at),
        )

    def _known(self, meeting_id: str, what: str) -> bool:
        if self._db.execute("SELECT 1 FROM meetings WHERE id = ?", (meeting_id,)).fetchone():
            return True
        log.warning("archive: %s for meeting %s, which was never started here; not kept", what, meeting_id)
        return False

    # -- deleting ----------------------------------------------------------------------------------

    def forget(self, meeting_id: str) -> list[Meeting]:
        """Delete one meeting for good, running or not; what was deleted."""
        return self._delete("WHERE id = ?", (meeting_id,))

    def forget_older_than(self, days: float) -> list[Meeting]:
        """Delete the meetings that ended more than `days` ago; a running meeting is never among them."""
        return self._delete("WHERE ended_at IS NOT NULL AND ended_at < ?", (self._clock() - days * 86400,))

    def forget_all(self) -> list[Meeting]:
        """Delete every meeting, the running one too (its later utterances start a new record of it)."""
        return self._delete("", ())

    def apply_retention(self, retention_days: float) -> list[Meeting]:
        """`archive.retention_days`: the same as forget_older_than, logged."""
        gone = self.forget_older_than(retention_days)
        if gone:
            log.info("archive retention (%g days) deleted %d meeting(s): %s",
                     retention_days, len(gone), ", ".join(m.id for m in gone))
        return gone

    def _delete(self, where: str, args: tuple) -> list[Meeting]:
        with self.transaction():
            ids = [row[0] for row in self._db.execute(f"SELECT id FROM meetings {where}", args)]
            gone = [self.meeting(meeting_id) for meeting_id in ids]
            for start in range(0, len(ids), 500):  # stay under SQLite's variable limit
                chunk = ids[start : start + 500]
                self._db.execute(f"DELETE FROM meetings WHERE id IN ({','.join('?' * len(chunk))})", chunk)
        if ids:
            # Deleted pages are zeroed (secure_delete); the WAL still holds the old ones until a checkpoint.
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return [m for m in gone if m is not None]


def _open(path: Path, clock: Callable[[], float]) -> sqlite3.Connection:
    """The archive for writing, created (0600) or migrated; an unreadable file is moved aside for a new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        return _connect(path)
    except sqlite3.DatabaseError as exc:
        if "newer than this roomscribe" in str(exc):
            raise  # a downgrade: keep the file for the newer version, do not move it aside
        aside = move_aside(path, clock())
        log.error("archive %s is unreadable (%s); moved it to %s and started a new one", path, exc, aside)
        return _connect(path)


def _connect(path: Path) -> sqlite3.Connection:
    fresh = not path.exists()
    if fresh:  # created 0600 before SQLite writes a byte: transcripts are private
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
    db = sqlite3.connect(path, isolation_level=None, timeout=10)
    try:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        db.execute("PRAGMA foreign_keys=ON")
        db.execute("PRAGMA secure_delete=ON")
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise sqlite3.DatabaseError(f"archive schema {version} is newer than this roomscribe ({SCHEMA_VERSION})")
        if version < SCHEMA_VERSION:
            upgrade = _UPGRADES.get(version, "")
            db.executescript(f"BEGIN IMMEDIATE; {_SCHEMA} {upgrade} PRAGMA user_version={SCHEMA_VERSION}; COMMIT;")
    except sqlite3.DatabaseError:
        db.close()
        raise
    return db


def _connect_readonly(path: Path) -> sqlite3.Connection:
    if not path.is_file():
        raise FileNotFoundError(f"no archive at {path}")
    db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, isolation_level=None, timeout=10)
    try:
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version != SCHEMA_VERSION:
            raise sqlite3.DatabaseError(f"archive schema {version}, this roomscribe reads {SCHEMA_VERSION}")
    except sqlite3.DatabaseError:
        db.close()
        raise
    return db
