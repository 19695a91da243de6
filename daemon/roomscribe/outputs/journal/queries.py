"""Reading the journal: the meeting list, one meeting, its utterances, a whole record, what an id means.

Functions of a connection, so that the writer (the meeting summary) and the readers (catch-up, the
command line) ask the same questions in the same words. An utterance comes back from the payload it
was published with: a field a newer roomscribe added to the transcript survives storage whole. Its
`speaker_name` is the name its voice has now (the `speaker_names` table), whatever it was published
with: naming later changes what readers see, never the stored payload.

A reader may open a journal of the previous schema that the daemon has not upgraded yet (it reads
while the daemon runs, or before it ever started): it has no names then.
"""

from __future__ import annotations

import dataclasses
import sqlite3
from contextlib import contextmanager
from typing import Any, Iterator

import msgspec

from roomscribe.core.records import Utterance, encode, from_iso_utc
from roomscribe.outputs.archive.meetings import (
    MIN_PREFIX,
    AmbiguousMeeting,
    LostSpan,
    Meeting,
    MeetingRecord,
    Pause,
    UnknownMeeting,
    meeting_from_row,
)
from roomscribe.outputs.journal.schema import version

# (name, default) in the order of the dataclass: a field a payload lacks (an older one) takes its default.
_UTTERANCE_FIELDS = tuple((f.name, f.default) for f in dataclasses.fields(Utterance))
_decode = msgspec.json.Decoder().decode  # a 3-hour meeting's 2,000 payloads: a third of the time of json.loads
MEETING_SUMMARY = """
SELECT m.id, m.room, m.started_at, m.ended_at, m.audio_seconds, m.paused_seconds,
       (SELECT COUNT(*) FROM utterances u WHERE u.meeting_id = m.id),
       (SELECT group_concat(e.epoch) FROM epochs e WHERE e.meeting_id = m.id),
       (SELECT group_concat(DISTINCT u.speaker_epoch || ':' || u.speaker) FROM utterances u WHERE u.meeting_id = m.id),
       (SELECT MIN(p.started_at) FROM pauses p WHERE p.meeting_id = m.id AND p.ended_at IS NULL),
       (SELECT COALESCE(SUM(l.seconds), 0) FROM lost l WHERE l.meeting_id = m.id),
       (SELECT COUNT(*) FROM lost l WHERE l.meeting_id = m.id),
       {names}
FROM meetings m
"""
_NAMES_COLUMN = ("(SELECT json_group_array(json_array(n.speaker_epoch, n.speaker, n.name)) FROM speaker_names n "
                 "WHERE n.meeting_id = m.id)")
NAMES_SINCE = 2  # the schema version that has speaker_names
Names = dict[tuple[int, str], str]  # (speaker_epoch, label) -> name


def utterance_from(payload: bytes | str, start: float, end: float, names: Names | None = None) -> Utterance:
    """The Utterance of a stored payload; its times from the columns (full precision, moved by clock steps);
    with `names`, the name its voice has now."""
    data = _decode(payload)
    if names is not None:
        data["speaker_name"] = names.get((data.get("speaker_epoch"), data.get("speaker")))
    return utterance_of(data, start, end)


def utterance_from_payload(payload: bytes | str) -> Utterance:
    """The Utterance of a transcript payload alone (one held in memory: no columns), its times to the millisecond."""
    data = _decode(payload)
    return utterance_of(data, from_iso_utc(data["start"]), from_iso_utc(data["end"]))


def utterance_of(data: dict[str, Any], start: float, end: float) -> Utterance:
    """An Utterance from a transcript payload's fields (those it knows; event_type is not one of them)."""
    data["start"], data["end"] = start, end
    values: list[Any] = []
    for name, default in _UTTERANCE_FIELDS:
        value = data[name] if name in data else default
        if value is dataclasses.MISSING:
            raise KeyError(f"a transcript payload without {name}")
        values.append(value)
    return Utterance(*values)


def has_names(db: sqlite3.Connection) -> bool:
    return version(db) >= NAMES_SINCE


def _summary(db: sqlite3.Connection) -> str:
    return MEETING_SUMMARY.format(names=_NAMES_COLUMN if has_names(db) else "NULL")


def meetings(db: sqlite3.Connection, now: float, since: float | None = None) -> list[Meeting]:
    """Meetings that started at or after `since` (all without), oldest first."""
    rows = db.execute(_summary(db) + " WHERE m.started_at >= ? ORDER BY m.started_at, m.id",
                      (since if since is not None else float("-inf"),)).fetchall()
    return [meeting_from_row(row, now) for row in rows]


def meeting(db: sqlite3.Connection, meeting_id: str, now: float) -> Meeting | None:
    row = db.execute(_summary(db) + " WHERE m.id = ?", (meeting_id,)).fetchone()
    return meeting_from_row(row, now) if row else None


def names(db: sqlite3.Connection, meeting_id: str) -> Names:
    """The names given to the meeting's voices: (speaker_epoch, label) -> name."""
    if not has_names(db):
        return {}
    rows = db.execute("SELECT speaker_epoch, speaker, name FROM speaker_names WHERE meeting_id = ?", (meeting_id,))
    return {(epoch, label): name for epoch, label, name in rows}


def heard(db: sqlite3.Connection, meeting_id: str) -> list[tuple[int, str]]:
    """(speaker_epoch, label) of every voice the meeting's stored utterances have, in the order first heard."""
    rows = db.execute("SELECT speaker_epoch, speaker, MIN(seq) AS first FROM utterances WHERE meeting_id = ? "
                      "GROUP BY speaker_epoch, speaker ORDER BY first", (meeting_id,))
    return [(epoch, label) for epoch, label, _ in rows]


def resolve(db: sqlite3.Connection, reference: str) -> str:
    """The id meant by "current" (the running meeting), "last" (the latest started), an id or a prefix of one."""
    if reference in ("current", "last"):
        where = "WHERE ended_at IS NULL " if reference == "current" else ""
        row = db.execute(f"SELECT id FROM meetings {where}ORDER BY started_at DESC, id DESC LIMIT 1").fetchone()
        if row is None:
            raise UnknownMeeting(reference, "no meeting is running" if reference == "current" else "the journal is empty")
        return row[0]
    if db.execute("SELECT 1 FROM meetings WHERE id = ?", (reference,)).fetchone():
        return reference
    if len(reference) < MIN_PREFIX:
        raise UnknownMeeting(reference, f"no such meeting (an id prefix needs at least {MIN_PREFIX} characters)")
    candidates = [row[0] for row in db.execute(
        "SELECT id FROM meetings WHERE substr(id, 1, ?) = ? ORDER BY started_at LIMIT 20", (len(reference), reference))]
    if not candidates:
        raise UnknownMeeting(reference)
    if len(candidates) > 1:
        raise AmbiguousMeeting(reference, candidates)
    return candidates[0]


def utterances(db: sqlite3.Connection, meeting_id: str, after_seq: int = 0, limit: int | None = None) -> list[Utterance]:
    """The meeting's utterances with seq > after_seq, in seq order, at most `limit`; with their names of now."""
    with _read(db):
        given = names(db, meeting_id)
        rows = db.execute(
            "SELECT payload, start_at, end_at FROM utterances WHERE meeting_id = ? AND seq > ? ORDER BY seq LIMIT ?",
            (meeting_id, after_seq, -1 if limit is None else limit)).fetchall()
    return [utterance_from(payload, start, end, given) for payload, start, end in rows]


def payloads(db: sqlite3.Connection, meeting_id: str, after_seq: int = 0,
             limit: int | None = None) -> list[tuple[int, bytes]]:
    """(seq, transcript payload) of the meeting's utterances with seq > after_seq, in seq order: as published,
    but with the names their voices have now (re-encoded only where that changes something)."""
    with _read(db):
        given = names(db, meeting_id)
        rows = db.execute("SELECT seq, payload FROM utterances WHERE meeting_id = ? AND seq > ? ORDER BY seq LIMIT ?",
                          (meeting_id, after_seq, -1 if limit is None else limit)).fetchall()
    return [(seq, with_names(bytes(payload), given)) for seq, payload in rows]


# A JSON string never holds an unescaped quote, so this only ever matches the key with a string value.
_NAMED = b'"speaker_name":"'


def with_names(payload: bytes, given: Names) -> bytes:
    """A stored transcript payload with the name its voice has now (null if none): the stored bytes themselves
    when they say that already (a meeting without names, published without one)."""
    if not given and _NAMED not in payload:
        return payload
    data = _decode(payload)
    name = given.get((data.get("speaker_epoch"), data.get("speaker")))
    if data.get("speaker_name") == name and "speaker_name" in data:
        return payload
    data["speaker_name"] = name
    return encode(data)


def record(db: sqlite3.Connection, meeting_id: str, now: float) -> MeetingRecord:
    """Everything about one meeting, read in one transaction (a consistent picture while it runs)."""
    with _read(db):
        found = meeting(db, meeting_id, now)
        if found is None:
            raise UnknownMeeting(meeting_id)
        pauses = tuple(Pause(*row) for row in db.execute(
            "SELECT started_at, ended_at FROM pauses WHERE meeting_id = ? ORDER BY started_at", (meeting_id,)))
        epochs = tuple((row[0], row[1]) for row in db.execute(
            "SELECT epoch, first_at FROM epochs WHERE meeting_id = ? ORDER BY first_at, epoch", (meeting_id,)))
        lost = tuple(LostSpan(*row) for row in db.execute(
            "SELECT started_at, ended_at, seconds, reason FROM lost WHERE meeting_id = ? ORDER BY started_at",
            (meeting_id,)))
        return MeetingRecord(found, pauses, epochs, tuple(utterances(db, meeting_id)), lost)


@contextmanager
def _read(db: sqlite3.Connection) -> Iterator[None]:
    if db.in_transaction:
        yield
        return
    db.execute("BEGIN")
    try:
        yield
    finally:
        db.execute("COMMIT")
