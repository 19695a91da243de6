"""Taking out of a corrupt journal what SQLite can still read, to put into a new one.

Undelivered utterances are read first (if reading stops there, they at least are kept), then the
meetings and everything else. Row ids are kept, so delivery goes on in the same order. Rows of a
meeting whose own row was lost are kept under a meeting made from them (`add_utterance` does that).
"""

from __future__ import annotations

import logging
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

from roomscribe.outputs.journal import salvage
from roomscribe.outputs.journal.schema import WAITING

log = logging.getLogger(__name__)

_UTTERANCE = "id, meeting_id, seq, speaker, speaker_epoch, start_at, end_at, stored_at, delivery, payload"
_TABLES = {  # table -> columns, each table's rows inserted once their meeting exists
    "epochs": "meeting_id, epoch, first_at",
    "pauses": "meeting_id, started_at, ended_at",
    "lost": "meeting_id, started_at, ended_at, seconds, reason",
    "speaker_names": "meeting_id, speaker_epoch, speaker, name, named_at",  # none in a file of schema 1
}


@dataclass
class Salvaged:
    meetings: list[tuple] = field(default_factory=list)
    utterances: dict[int, tuple] = field(default_factory=dict)  # id -> row, waiting ones first
    others: dict[str, list[tuple]] = field(default_factory=dict)

    @property
    def waiting(self) -> int:
        return sum(1 for row in self.utterances.values() if row[8] == WAITING)

    def put(self, db: sqlite3.Connection) -> None:
        """Into the (new) journal, inside the caller's transaction."""
        for row in self.meetings:
            db.execute("INSERT INTO meetings (id, room, started_at, ended_at, audio_seconds, paused_seconds) "
                       "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING", row)
        for row_id in sorted(self.utterances):
            row = self.utterances[row_id]
            room = _room_of(row[9])
            db.execute("INSERT INTO meetings (id, room, started_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
                       (row[1], room, row[5]))
            db.execute(f"INSERT INTO utterances ({_UTTERANCE}) VALUES ({','.join('?' * 10)}) ON CONFLICT DO NOTHING",
                       row)
        for table, rows in self.others.items():
            columns = _TABLES[table]
            for row in rows:
                if db.execute("SELECT 1 FROM meetings WHERE id = ?", (row[0],)).fetchone():
                    db.execute(f"INSERT INTO {table} ({columns}) VALUES ({','.join('?' * len(row))}) "
                               "ON CONFLICT DO NOTHING", row)


def set_aside(path: Path, exc: BaseException, now: float) -> tuple[Salvaged, Path]:
    """What a corrupt journal still holds, and where the file went (`<name>.corrupt-<now>`, kept)."""
    taken = salvage_journal(path)
    aside = salvage.move_aside(path, now)
    log.error("journal %s is corrupt (%s): moved it to %s; %d meetings and %d utterances (%d waiting) could still "
              "be read", path, exc, aside, len(taken.meetings), len(taken.utterances), taken.waiting)
    return taken, aside


def salvage_journal(path: Path) -> Salvaged:
    found = Salvaged()
    db = salvage.open_damaged(path)
    if db is None:
        log.error("journal %s: nothing can be read from it", path)
        return found
    try:
        for where in (f"delivery = {WAITING}", ""):
            for row in salvage.keyed_rows(db, _UTTERANCE, "utterances", "id", where):
                found.utterances.setdefault(row[0], row)
        found.meetings = salvage.rows(
            db, "SELECT id, room, started_at, ended_at, audio_seconds, paused_seconds FROM meetings")
        for table, columns in _TABLES.items():
            found.others[table] = salvage.rows(db, f"SELECT {columns} FROM {table}")
    finally:
        db.close()
    return found


def _room_of(payload) -> str:
    import json

    try:
        return str(json.loads(payload).get("room", "room"))
    except (ValueError, AttributeError):
        return "room"
