"""Reading the archive: the meeting list, one meeting, its utterances, a whole record, and what an id means.

Mixed into ArchiveStore (store.py), whose connection (`_db`) and clock (`_clock`) it reads through.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from roomscribe.core.records import Utterance
from roomscribe.outputs.archive.meetings import (
    MIN_PREFIX,
    AmbiguousMeeting,
    Meeting,
    MeetingRecord,
    Pause,
    UnknownMeeting,
    meeting_from_row,
)

UTTERANCE_COLUMNS = ("meeting_id, seq, speaker, speaker_epoch, text, start_at, end_at, offset_ms, duration_ms, language, room, "
                     "clock_synchronized")
MEETING_SUMMARY = """
SELECT m.id, m.room, m.started_at, m.ended_at, m.audio_seconds, m.paused_seconds,
       (SELECT COUNT(*) FROM utterances u WHERE u.meeting_id = m.id),
       (SELECT group_concat(e.epoch) FROM epochs e WHERE e.meeting_id = m.id),
       (SELECT group_concat(DISTINCT u.speaker_epoch || ':' || u.speaker) FROM utterances u WHERE u.meeting_id = m.id),
       (SELECT MIN(p.started_at) FROM pauses p WHERE p.meeting_id = m.id AND p.ended_at IS NULL)
FROM meetings m
"""


class ArchiveReading:
    """ArchiveStore's reading side."""

    def meetings(self, since: float | None = None) -> list[Meeting]:
        """Meetings that started at or after `since` (all without), oldest first."""
        rows = self._db.execute(
            MEETING_SUMMARY + " WHERE m.started_at >= ? ORDER BY m.started_at, m.id",
            (since if since is not None else float("-inf"),),
        ).fetchall()
        now = self._clock()
        return [meeting_from_row(row, now) for row in rows]

    def meeting(self, meeting_id: str) -> Meeting | None:
        row = self._db.execute(MEETING_SUMMARY + " WHERE m.id = ?", (meeting_id,)).fetchone()
        return meeting_from_row(row, self._clock()) if row else None

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
            f"SELECT {UTTERANCE_COLUMNS} FROM utterances WHERE meeting_id = ? AND seq > ? ORDER BY seq LIMIT ?",
            (meeting_id, after_seq, -1 if limit is None else limit),
        ).fetchall()
        return [Utterance(*row[:-1], clock_synchronized=bool(row[-1])) for row in rows]

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
