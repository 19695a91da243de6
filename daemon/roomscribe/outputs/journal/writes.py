"""Writing the journal: what the daemon records besides utterances, what the broker acknowledged, what is
deleted. (An utterance's row is inserted by file.py, where its delivery state lives.)

Functions of a connection, each run inside the caller's transaction: the writer (writer.py) puts a
batch of them into one, the command line's `forget` its own. Times are epoch seconds. Repeating a
write is harmless: a second start, end or resume changes nothing, an utterance is kept once per
(meeting_id, seq).
"""

from __future__ import annotations

import json
import logging
import sqlite3

from roomscribe.core.records import encode, iso_utc
from roomscribe.outputs.journal.schema import DELIVERED, DROPPED, WAITING

log = logging.getLogger(__name__)

_CHUNK = 500  # ids per statement: under SQLite's variable limit


def meeting_started(db: sqlite3.Connection, meeting_id: str, room: str, at: float, speaker_epoch: int | None) -> None:
    db.execute("INSERT INTO meetings (id, room, started_at) VALUES (?, ?, ?) ON CONFLICT (id) DO NOTHING",
               (meeting_id, room, at))
    if speaker_epoch is not None:
        _epoch(db, meeting_id, speaker_epoch, at)


def meeting_ended(db: sqlite3.Connection, meeting_id: str, at: float, paused_s: float | None = None) -> None:
    """Ends the meeting and a pause still open; a second end keeps the first. `paused_s`, when the event
    carried it (measured on a monotonic clock), is the meeting's paused time."""
    running = db.execute("SELECT 1 FROM meetings WHERE id = ? AND ended_at IS NULL", (meeting_id,)).fetchone()
    pause_ended(db, meeting_id, at)
    db.execute("UPDATE meetings SET ended_at = ? WHERE id = ? AND ended_at IS NULL", (at, meeting_id))
    if running and paused_s is not None:
        db.execute("UPDATE meetings SET paused_seconds = ? WHERE id = ?", (max(0.0, paused_s), meeting_id))


def pause_started(db: sqlite3.Connection, meeting_id: str, at: float) -> None:
    if db.execute("SELECT 1 FROM pauses WHERE meeting_id = ? AND ended_at IS NULL", (meeting_id,)).fetchone():
        return
    if _known(db, meeting_id, "pause"):
        db.execute("INSERT INTO pauses (meeting_id, started_at) VALUES (?, ?) ON CONFLICT DO NOTHING", (meeting_id, at))


def pause_ended(db: sqlite3.Connection, meeting_id: str, at: float) -> None:
    row = db.execute("SELECT started_at FROM pauses WHERE meeting_id = ? AND ended_at IS NULL", (meeting_id,)).fetchone()
    if row is None:
        return  # no open pause: a repeated resume changes nothing
    end = max(at, row[0])
    db.execute("UPDATE pauses SET ended_at = ? WHERE meeting_id = ? AND started_at = ?", (end, meeting_id, row[0]))
    db.execute("UPDATE meetings SET paused_seconds = paused_seconds + ? WHERE id = ?", (end - row[0], meeting_id))


def speaker_epoch(db: sqlite3.Connection, meeting_id: str, epoch: int, at: float) -> None:
    """A (new) cloud session began: its labels start again at Guest-1."""
    if _known(db, meeting_id, "speaker epoch"):
        _epoch(db, meeting_id, epoch, at)


def audio_seconds(db: sqlite3.Connection, meeting_id: str, total_seconds: float) -> None:
    """The meeting's total of audio sent to the speech service (a total: repeating it is harmless)."""
    db.execute("UPDATE meetings SET audio_seconds = ? WHERE id = ?", (total_seconds, meeting_id))


def audio_lost(db: sqlite3.Connection, meeting_id: str, start: float, end: float, seconds: float, reason: str) -> None:
    """Captured audio that could not be transcribed (an `audio_lost` event); the summary counts it."""
    if _known(db, meeting_id, "lost span"):
        db.execute("INSERT INTO lost (meeting_id, started_at, ended_at, seconds, reason) VALUES (?, ?, ?, ?, ?) "
                   "ON CONFLICT DO NOTHING", (meeting_id, start, end, max(0.0, seconds), reason))


def clock_stepped(db: sqlite3.Connection, meeting_id: str, step_s: float) -> None:
    """The wall clock jumped by `step_s` during a running meeting: every time recorded of it so far moves
    with it (its start, its pauses, epochs and lost spans, its utterances and their payloads), so that
    durations and export cues stay right."""
    if not db.execute("SELECT 1 FROM meetings WHERE id = ? AND ended_at IS NULL", (meeting_id,)).fetchone():
        return
    args = (step_s, meeting_id)
    db.execute("UPDATE meetings SET started_at = started_at + ? WHERE id = ?", args)
    db.execute("UPDATE pauses SET started_at = started_at + :s, ended_at = ended_at + :s WHERE meeting_id = :m",
               {"s": step_s, "m": meeting_id})
    db.execute("UPDATE epochs SET first_at = first_at + ? WHERE meeting_id = ?", args)
    db.execute("UPDATE lost SET started_at = started_at + :s, ended_at = ended_at + :s WHERE meeting_id = :m",
               {"s": step_s, "m": meeting_id})
    rows = db.execute("SELECT id, start_at, end_at, payload FROM utterances WHERE meeting_id = ?", (meeting_id,))
    for row_id, start, end, payload in rows.fetchall():
        data = json.loads(payload)
        data["start"], data["end"] = iso_utc(start + step_s), iso_utc(end + step_s)
        db.execute("UPDATE utterances SET start_at = ?, end_at = ?, payload = ? WHERE id = ?",
                   (start + step_s, end + step_s, encode(data), row_id))


def delivered(db: sqlite3.Connection, row_ids, keep: bool) -> int:
    """The broker acknowledged these: marked (the record is kept) or deleted (kept only until delivered).
    Returns how many of them were still waiting."""
    waiting = 0
    for chunk in _chunks(row_ids):
        marks = ",".join("?" * len(chunk))
        waiting += db.execute(f"SELECT COUNT(*) FROM utterances WHERE delivery = {WAITING} AND id IN ({marks})",
                              chunk).fetchone()[0]
        if keep:
            db.execute(f"UPDATE utterances SET delivery = {DELIVERED} WHERE id IN ({marks})", chunk)
        else:
            db.execute(f"DELETE FROM utterances WHERE id IN ({marks})", chunk)
    if not keep:
        db.execute("DELETE FROM meetings WHERE ended_at IS NOT NULL AND NOT EXISTS "
                   "(SELECT 1 FROM utterances u WHERE u.meeting_id = meetings.id)")
    return waiting


def stop_delivering(db: sqlite3.Connection, upto_id: int | None, older_than: float | None, keep: bool) -> tuple | None:
    """Waiting utterances past a bound (id <= upto_id, or stored before older_than) are no longer sent: marked
    dropped, or deleted when the record is not kept. (count, first (meeting_id, seq), last), or None."""
    condition, args = ("id <= ?", (upto_id,)) if upto_id is not None else ("stored_at < ?", (older_than,))
    where = f"delivery = {WAITING} AND {condition}"
    count, first_id, last_id = db.execute(f"SELECT COUNT(*), MIN(id), MAX(id) FROM utterances WHERE {where}",
                                          args).fetchone()
    if not count:
        return None
    first, last = (db.execute("SELECT meeting_id, seq FROM utterances WHERE id = ?", (i,)).fetchone()
                   for i in (first_id, last_id))
    db.execute(f"UPDATE utterances SET delivery = {DROPPED} WHERE {where}" if keep
               else f"DELETE FROM utterances WHERE {where}", args)
    return count, tuple(first), tuple(last)


def end_unfinished(db: sqlite3.Connection, room: str) -> list[str]:
    """Close this room's meetings that never got an end (the daemon died) at their last known moment."""
    ids = [row[0] for row in db.execute("SELECT id FROM meetings WHERE room = ? AND ended_at IS NULL", (room,))]
    for meeting_id in ids:
        last = db.execute(
            """SELECT MAX(t) FROM (
                   SELECT started_at AS t FROM meetings WHERE id = :m
                   UNION ALL SELECT MAX(end_at) FROM utterances WHERE meeting_id = :m
                   UNION ALL SELECT MAX(started_at) FROM pauses WHERE meeting_id = :m
                   UNION ALL SELECT MAX(first_at) FROM epochs WHERE meeting_id = :m)""", {"m": meeting_id}).fetchone()[0]
        meeting_ended(db, meeting_id, last)
    if ids:
        log.warning("journal: closed %d meeting(s) the daemon had not ended: %s", len(ids), ", ".join(ids))
    return ids


def forget(db: sqlite3.Connection, where: str, args: tuple, *, except_waiting: bool = False) -> list[str]:
    """Delete the meetings `WHERE …` (everything of them, for good); their ids. With `except_waiting`, not
    those with utterances still to be delivered (retention: kept until delivered)."""
    if except_waiting:
        where = (f"{where} AND" if where else "WHERE") + \
            f" NOT EXISTS (SELECT 1 FROM utterances u WHERE u.meeting_id = meetings.id AND u.delivery = {WAITING})"
    ids = [row[0] for row in db.execute(f"SELECT id FROM meetings {where}", args)]
    for chunk in _chunks(ids):
        db.execute(f"DELETE FROM meetings WHERE id IN ({','.join('?' * len(chunk))})", chunk)
    return ids


def tidy(db: sqlite3.Connection, now: float, keep: bool, retention_s: float, max_waiting_s: float) -> tuple:
    """Retention and the age bound of what waits: what is no longer sent (stop_delivering's answer, or None)
    and the ids of the meetings deleted. Kept until delivered (`keep` false): what was delivered goes, and
    the meetings that hold nothing else; a meeting with utterances still waiting never goes."""
    too_old = stop_delivering(db, None, now - max_waiting_s, keep)
    if keep:
        gone = forget(db, "WHERE ended_at IS NOT NULL AND ended_at < ?", (now - retention_s,), except_waiting=True)
    else:
        db.execute(f"DELETE FROM utterances WHERE delivery != {WAITING}")
        gone = forget(db, "WHERE ended_at IS NOT NULL", (), except_waiting=True)
    return too_old, gone


def waiting_count(db: sqlite3.Connection) -> int:
    return db.execute(f"SELECT COUNT(*) FROM utterances WHERE delivery = {WAITING}").fetchone()[0]


def _epoch(db: sqlite3.Connection, meeting_id: str, epoch: int, at: float) -> None:
    db.execute("INSERT INTO epochs (meeting_id, epoch, first_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
               (meeting_id, epoch, at))


def _known(db: sqlite3.Connection, meeting_id: str, what: str) -> bool:
    if db.execute("SELECT 1 FROM meetings WHERE id = ?", (meeting_id,)).fetchone():
        return True
    log.warning("journal: %s for meeting %s, which was never started here; not kept", what, meeting_id)
    return False


def _chunks(ids) -> list[list]:
    ids = list(ids)
    return [ids[start : start + _CHUNK] for start in range(0, len(ids), _CHUNK)]
