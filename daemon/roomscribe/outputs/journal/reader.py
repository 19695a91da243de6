"""Reading the journal from another thread or process: the command line, catch-up over MQTT.

`JournalReader` opens a read-only connection of its own, so it works while the daemon writes. A
journal that is not there yet, or an empty file (the daemon could not write its first page on a
full disk), reads as a journal without meetings: never an error.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

from roomscribe.core.records import Utterance
from roomscribe.outputs.archive.meetings import Meeting, MeetingRecord, UnknownMeeting
from roomscribe.outputs.journal import queries
from roomscribe.outputs.journal.schema import open_for_reading


class JournalReader:
    def __init__(self, path: Path | str, *, clock: Callable[[], float] = time.time):
        """Raises sqlite3.Error when the file is not a journal this roomscribe can read."""
        self.path = Path(path)
        self._clock = clock
        self._db = open_for_reading(self.path)

    @property
    def empty(self) -> bool:
        """No journal yet: no file, or nothing written to it."""
        return self._db is None

    def close(self) -> None:
        if self._db is not None:
            self._db.close()

    def __enter__(self) -> "JournalReader":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def meetings(self, since: float | None = None) -> list[Meeting]:
        return [] if self._db is None else queries.meetings(self._db, self._clock(), since)

    def meeting(self, meeting_id: str) -> Meeting | None:
        return None if self._db is None else queries.meeting(self._db, meeting_id, self._clock())

    def resolve(self, reference: str) -> str:
        if self._db is None:
            raise UnknownMeeting(reference, "the journal is empty")
        return queries.resolve(self._db, reference)

    def utterances(self, meeting_id: str, after_seq: int = 0, limit: int | None = None) -> list[Utterance]:
        return [] if self._db is None else queries.utterances(self._db, meeting_id, after_seq, limit)

    def payloads(self, meeting_id: str, after_seq: int = 0, limit: int | None = None) -> list[tuple[int, bytes]]:
        """(seq, payload) exactly as published: what catch-up answers with."""
        return [] if self._db is None else queries.payloads(self._db, meeting_id, after_seq, limit)

    def record(self, meeting_id: str) -> MeetingRecord:
        if self._db is None:
            raise UnknownMeeting(meeting_id, "the journal is empty")
        return queries.record(self._db, meeting_id, self._clock())
