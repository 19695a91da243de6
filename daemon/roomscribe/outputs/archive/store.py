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
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

from roomscribe.core.records import Utterance, iso_utc
from roomscribe.outputs.sqlite_files import move_aside

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
MIN_PREFIX = 4  # shorter id prefixes are refused: too easy to hit the wrong meeting
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
    PRIMARY KEY (meeting_id, seq)
) WITHOUT ROWID;
"""
_UTTERANCE_COLUMNS = "meeting_id, seq, speaker, speaker_epoch, text, start_at, end_at, offset_ms, duration_ms, language, room"
_MEETING_SUMMARY = """
SELECT m.id, m.room, m.started_at, m.ended_at, m.audio_seconds, m.paused_seconds,
       (SELECT COUNT(*) FROM utterances u WHERE u.meeting_id = m.id),
       (SELECT group_concat(e.epoch) FROM epochs e WHERE e.meeting_id = m.id),
       (SELECT group_concat(DISTINCT u.speaker_epoch || ':' || u.speaker) FROM utterances u WHERE u.meeting_id = m.id),
       (SELECT MIN(p.started_at) FROM pauses p WHERE p.meeting_id = m.id AND p.ended_at IS NULL)
FROM meetings m
"""


class UnknownMeeting(LookupError):
    def __init__(self, reference: str, why: str = "no such meeting in the archive"):
        super().__init__(f"{reference}: {why}")
        self.reference = reference


class AmbiguousMeeting(LookupError):
    def __init__(self, reference: str, candidates: list[str]):
        super().__init__(f"{reference}: matches {len(candidates)} meetings ({', '.join(candidates[:5])}); give more of the id")
        self.reference = reference
        self.candidates = candidates


@dataclass(frozen=True, slots=True)
class Pause:
    start: float
    end: float | None  # None while the meeting is paused


@dataclass(frozen=True, slots=True)
class Meeting:
    """One meeting as the list shows it."""

    id: str
    room: str
    start: float
    end: float | None  # None while it runs (or if the daemon died and nobody closed it yet)
    utterances: int
    speaker_epochs: tuple[int, ...]
    speakers: tuple[tuple[int, str], ...]  # (speaker_epoch, label): Guest-1 of epoch 1 is not Guest-1 of epoch 2
    paused_seconds: float  # an open pause counts up to the moment of the query
    audio_seconds: float  # audio sent to the speech service

    @property
    def running(self) -> bool:
        return self.end is None

    def to_json(self) -> dict[str, Any]:
        return {
            "meeting_id": self.id,
            "room": self.room,
            "start": iso_utc(self.start),
            "end": iso_utc(self.end) if self.end is not None else None,
            "utterances": self.utterances,
            "speaker_epochs": list(self.speaker_epochs),
            "speakers": [{"speaker_epoch": epoch, "speaker": label} for epoch, label in self.speakers],
            "paused_seconds": round(self.paused_seconds, 3),
            "audio_seconds": round(self.audio_seconds, 3),
        }


@dataclass(frozen=True, slots=True)
class MeetingRecord:
    """Everything kept about one meeting, in time order: what the exports are made of."""

    meeting: Meeting
    pauses: tuple[Pause, ...]
    epochs: tuple[tuple[int, float], ...]  # (speaker_epoch, first seen at)
    utterances: tuple[Utterance, ...]


class ArchiveStore:
    def __init__(self, path: Path | str, *, readonly: bool = False, clock: Callable[[], float] = time.time):
        self.path = Path(path)
        self.readonly = readonly
        self._clock = clock
        self._db = self._connect_readonly() if readonly else self._open()

    # -- opening -----------------------------------------------------------------------------------

    def _open(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            return self._connect()
        except sqlite3.DatabaseError as exc:
            if "newer than this roomscribe" in str(exc):
                raise  # a downgrade: keep the file for the newer version, do not move it aside
            aside = move_aside(self.path, self._clock())
            log.error("archive %s is unreadable (%s); moved it to %s and started a new one", self.path, exc, aside)
            return self._connect()

    def _connect(self) -> sqlite3.Connection:
        fresh = not self.path.exists()
        if fresh:  # created 0600 before SQLite writes a byte: transcripts are private
            os.close(os.open(self.path, os.O_CREAT | os.O_WRONLY, 0o600))
        db = sqlite3.connect(self.path, isolation_level=None, timeout=10)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            db.execute("PRAGMA foreign_keys=ON")
            db.execute("PRAGMA secure_delete=ON")
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise sqlite3.DatabaseError(f"archive schema {version} is newer than this roomscribe ({SCHEMA_VERSION})")
            if version < SCHEMA_VERSION:
                db.executescript(f"BEGIN IMMEDIATE; {_SCHEMA} PRAGMA user_version={SCHEMA_VERSION}; COMMIT;")
        except sqlite3.DatabaseError:
            db.close()
            raise
        return db

    def _connect_readonly(self) -> sqlite3.Connection:
        if not self.path.is_file():
            raise FileNotFoundError(f"no archive at {self.path}")
        db = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True, isolation_level=None, timeout=10)
        try:
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version != SCHEMA_VERSION:
                raise sqlite3.DatabaseError(f"archive schema {version}, this roomscribe reads {SCHEMA_VERSION}")
        except sqlite3.DatabaseError:
            db.close()
            raise
        return db

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

    def meeting_ended(self, meeting_id: str, at: float) -> None:
        """Ends the meeting and a pause still open; a second end keeps the first."""
        with self.transaction():
            self.pause_ended(meeting_id, at)
            self._db.execute("UPDATE meetings SET ended_at = ? WHERE id = ? AND ended_at IS NULL", (at, meeting_id))

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
                f"INSERT INTO utterances ({_UTTERANCE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (meeting_id, seq) DO NOTHING",
                (u.meeting_id, u.seq, u.speaker, u.speaker_epoch, u.text, u.start, u.end, u.offset_ms,
                 u.duration_ms, u.language, u.room),
            )
            if cursor.rowcount:
                self._epoch(u.meeting_id, u.speaker_epoch, u.start)
            return bool(cursor.rowcount)

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

    # -- reading -----------------------------------------------------------------------------------

    def meetings(self, since: float | None = None) -> list[Meeting]:
        """Meetings that started at or after `since` (all without), oldest first."""
        rows = self._db.execute(
            _MEETING_SUMMARY + " WHERE m.started_at >= ? ORDER BY m.started_at, m.id",
            (since if since is not None else float("-inf"),),
        ).fetchall()
        now = self._clock()
        return [self._summary(row, now) for row in rows]

    def meeting(self, meeting_id: str) -> Meeting | None:
        row = self._db.execute(_MEETING_SUMMARY + " WHERE m.id = ?", (meeting_id,)).fetchone()
        return self._summary(row, self._clock()) if row else None

    def resolve(self, reference: str) -> str:
        """The id meant by "current" (the running meeting), "last" (the latest started), an id or a prefix of one."""
        if reference in ("current", "last"):
            where = "WHERE ended_at IS NULL " if reference == "current" else ""
            row = self._db.execute(f"SELECT id FROM meetings {where}ORDER BY started_at DESC, id DESC LIMIT 1").fetchone()
            if row is None:
                raise UnknownMeeting(reference, "no meeting is running" if reference == "current" else "the archive is empty")
            return row[0]
        if self._db.execute("SELECT 1 FROM meetings WHERE id = ?", (reference,)).fetchone():
            return reference
        if len(reference) < MIN_PREFIX:
            raise UnknownMeeting(reference, f"no such meeting (an id prefix needs at least {MIN_PREFIX} characters)")
        candidates = [row[0] for row in self._db.execute(
            "SELECT id FROM meetings WHERE substr(id, 1, ?) = ? ORDER BY started_at LIMIT 20", (len(reference), reference))]
        if not candidates:
            raise UnknownMeeting(reference)
        if len(candidates) > 1:
            raise AmbiguousMeeting(reference, candidates)
        return candidates[0]

    def utterances(self, meeting_id: str, after_seq: int = 0, limit: int | None = None) -> list[Utterance]:
        """The meeting's utterances with seq > after_seq, in seq order, at most `limit`."""
        rows = self._db.execute(
            f"SELECT {_UTTERANCE_COLUMNS} FROM utterances WHERE meeting_id = ? AND seq > ? ORDER BY seq LIMIT ?",
            (meeting_id, after_seq, -1 if limit is None else limit),
        ).fetchall()
        return [Utterance(*row) for row in rows]

    def record(self, meeting_id: str) -> MeetingRecord:
        """Everything about one meeting, read in one transaction (a consistent picture while it runs)."""
        with self._read():
            meeting = self.meeting(meeting_id)
            if meeting is None:
                raise UnknownMeeting(meeting_id)
            pauses = tuple(Pause(*row) for row in self._db.execute(
                "SELECT started_at, ended_at FROM pauses WHERE meeting_id = ? ORDER BY started_at", (meeting_id,)))
            epochs = tuple((row[0], row[1]) for row in self._db.execute(
                "SELECT epoch, first_at FROM epochs WHERE meeting_id = ? ORDER BY first_at, epoch", (meeting_id,)))
            return MeetingRecord(meeting, pauses, epochs, tuple(self.utterances(meeting_id)))

    @contextmanager
    def _read(self) -> Iterator[None]:
        if self._db.in_transaction:
            yield
            return
        self._db.execute("BEGIN")
        try:
            yield
        finally:
            self._db.execute("COMMIT")

    def _summary(self, row: tuple, now: float) -> Meeting:
        (meeting_id, room, start, end, audio_s, paused_s, count, epochs, speakers, open_pause) = row
        if open_pause is not None:
            paused_s += max(0.0, (end if end is not None else now) - open_pause)
        pairs = []
        for item in (speakers.split(",") if speakers else []):
            epoch, _, label = item.partition(":")
            pairs.append((int(epoch), label))
        return Meeting(
            id=meeting_id, room=room, start=start, end=end, utterances=count,
            speaker_epochs=tuple(sorted(int(e) for e in epochs.split(","))) if epochs else (),
            speakers=tuple(sorted(pairs, key=_speaker_order)), paused_seconds=paused_s, audio_seconds=audio_s,
        )

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


def _speaker_order(pair: tuple[int, str]) -> tuple:
    epoch, label = pair
    prefix, _, number = label.rpartition("-")
    return (epoch, prefix, int(number)) if number.isdigit() else (epoch, label, 0)
