"""The stores of roomscribe before the journal, taken into it on the first start.

Up to 5545b0b an installation kept two SQLite files in its state directory: the outbox (undelivered
utterances, `mqtt.outbox_path`) and the archive (meetings, pauses, epochs, utterances, `archive.path`).
`import_legacy` reads both into the journal inside the caller's transaction, undelivered utterances
first, so that they are delivered before anything newer and in the outbox's order; the caller removes
the old files only after its commit returned (`LegacyImport.done`). A file SQLite calls corrupt gives
up what can still be read and is then set aside, never deleted (`LegacyImport.corrupt`); a file that
cannot be read for another reason (a full disk, an I/O error) is left where it is, for the next try.
With the record switched off (`archive.enabled: false`) an old archive is not taken in: it stays.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from roomscribe.core.records import Utterance, encode, from_iso_utc
from roomscribe.outputs.journal import salvage
from roomscribe.outputs.journal.queries import utterance_of
from roomscribe.outputs.journal.schema import DELIVERED, WAITING, is_corrupt, is_transient

log = logging.getLogger(__name__)

# file.add_utterance(db, row_id, utterance, payload, stored_at, delivery) -> new?
AddUtterance = Callable[[sqlite3.Connection, int, Utterance, bytes, float, int], bool]
_ARCHIVE_UTTERANCE = ("meeting_id, seq, speaker, speaker_epoch, text, start_at, end_at, offset_ms, duration_ms, "
                      "language, room")


@dataclass
class LegacyImport:
    waiting: int = 0  # undelivered utterances from the outbox
    meetings: int = 0
    utterances: int = 0  # from the archive (delivered long ago)
    done: list[Path] = field(default_factory=list)  # held by the journal once the caller commits: remove
    corrupt: list[Path] = field(default_factory=list)  # broken: set aside once the caller commits

    @property
    def anything(self) -> bool:
        return bool(self.done or self.corrupt)


def import_legacy(db: sqlite3.Connection, outbox: Path, archive: Path, *, keep_record: bool,
                  now: float, add: AddUtterance) -> LegacyImport:
    """Take the old outbox and archive (where they exist) into the journal's open transaction; `add` inserts
    an utterance (file.add_utterance). Raises what a transient failure raised (then nothing is removed, and
    the caller rolls back)."""
    result = LegacyImport()
    if _exists(outbox):
        _take(outbox, result, lambda old, strict: _outbox(old, db, result, now, strict, add))
    if _exists(archive):
        if keep_record:
            _take(archive, result, lambda old, strict: _archive(old, db, result, now, strict, add))
        else:
            log.warning("journal: the archive %s of an older roomscribe is left as it is: archive.enabled is false",
                        archive)
    return result


def settle(taken: LegacyImport, now: float) -> list[tuple[Path, Path]]:
    """After the journal's commit: the old files it holds are removed, the corrupt ones set aside (their new
    names returned)."""
    for path in taken.done:
        salvage.remove(path)
    aside = [(path, salvage.move_aside(path, now)) for path in taken.corrupt]
    if taken.anything:
        log.warning("journal: took in the stores of an older roomscribe: %d undelivered utterances, %d meetings and "
                    "%d more utterances; removed %s", taken.waiting, taken.meetings, taken.utterances,
                    ", ".join(map(str, taken.done)) or "nothing")
    return aside


def _exists(path: Path) -> bool:
    return path.is_file() and path.stat().st_size > 0


def _take(path: Path, result: LegacyImport, take: Callable[[sqlite3.Connection, bool], None]) -> None:
    """Opens an old store and takes what it holds (every read strict: any failure is raised); a corrupt one
    then gives what can still be read, and is set aside."""
    try:
        old = sqlite3.connect(path, isolation_level=None, timeout=10)
        try:
            take(old, True)
        finally:
            old.close()
        result.done.append(path)
        return
    except sqlite3.Error as exc:
        if is_transient(exc):
            raise
        if not is_corrupt(exc):  # a database, but not the store it should be: not ours to move or delete
            log.error("journal: %s cannot be taken in (%s); it is left as it is", path, exc)
            return
        log.error("journal: the old store %s is corrupt (%s): taking what can still be read", path, exc)
    damaged = salvage.open_damaged(path)
    if damaged is not None:
        try:
            take(damaged, False)  # what the first attempt took stays: every insert is idempotent
        finally:
            damaged.close()
    result.corrupt.append(path)


def _outbox(old: sqlite3.Connection, db: sqlite3.Connection, result: LegacyImport, now: float, strict: bool,
            add: AddUtterance) -> None:
    next_id = _next_free(db)
    for _, stored_at, payload in salvage.keyed_rows(old, "id, stored_at, payload", "outbox", "id", strict=strict):
        payload = bytes(payload)
        try:
            data = json.loads(payload)
            u = utterance_of(data, from_iso_utc(data["start"]), from_iso_utc(data["end"]))
        except (ValueError, TypeError, KeyError) as exc:
            log.error("journal: an outbox row could not be read as a transcript (%s); skipped", exc)
            continue
        if add(db, next_id, u, payload, stored_at or now, WAITING):
            result.waiting += 1
            next_id += 1


def _archive(old: sqlite3.Connection, db: sqlite3.Connection, result: LegacyImport, now: float, strict: bool,
             add: AddUtterance) -> None:
    for row in salvage.rows(old, "SELECT id, room, started_at, ended_at, audio_seconds, paused_seconds FROM meetings",
                            strict=strict):
        db.execute("INSERT INTO meetings (id, room, started_at, ended_at, audio_seconds, paused_seconds) "
                   "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET started_at = excluded.started_at, "
                   "ended_at = excluded.ended_at, audio_seconds = excluded.audio_seconds, "
                   "paused_seconds = excluded.paused_seconds", row)
        result.meetings += 1
    next_id = _next_free(db)
    for row in salvage.rows(old, f"SELECT {_ARCHIVE_UTTERANCE} FROM utterances ORDER BY meeting_id, seq",
                            strict=strict):
        u = Utterance(*row)
        if add(db, next_id, u, encode(u.to_payload()), now, DELIVERED):
            result.utterances += 1
            next_id += 1
    for table, columns in (("epochs", "meeting_id, epoch, first_at"), ("pauses", "meeting_id, started_at, ended_at")):
        for row in salvage.rows(old, f"SELECT {columns} FROM {table}", strict=strict):
            _insert_known(db, table, columns, row)


def _next_free(db: sqlite3.Connection) -> int:
    return db.execute("SELECT COALESCE(MAX(id), 0) + 1 FROM utterances").fetchone()[0]


def _insert_known(db: sqlite3.Connection, table: str, columns: str, row: tuple) -> None:
    if db.execute("SELECT 1 FROM meetings WHERE id = ?", (row[0],)).fetchone():
        db.execute(f"INSERT INTO {table} ({columns}) VALUES ({','.join('?' * len(row))}) ON CONFLICT DO NOTHING", row)
