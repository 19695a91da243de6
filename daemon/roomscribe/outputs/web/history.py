"""What the page reads from the meeting record, behind one small protocol.

The page needs four things from the meeting record: the meetings, a meeting's utterances after a seq
(the feed's catch-up), one meeting with its utterances (a past meeting opened on the page), and a
meeting exported in a format. `MeetingHistory` is that, and `JournalHistory` implements it on the
journal's read-only reader (outputs/journal/reader.py) and the exports (outputs/archive/export.py).

Every call reads the disk: the server calls them on its executor, never on a loop.
"""

from __future__ import annotations

from contextlib import closing
from datetime import tzinfo
from pathlib import Path
from typing import Protocol

from roomscribe.core.records import Utterance
from roomscribe.outputs.archive.export import export
from roomscribe.outputs.archive.meetings import AmbiguousMeeting, UnknownMeeting
from roomscribe.outputs.journal.reader import JournalReader

MAX_MEETINGS = 200  # the list the page shows: the newest


class MeetingNotFound(LookupError):
    """No such meeting, or a prefix that names several: the message says which."""


class MeetingHistory(Protocol):
    def meetings(self) -> list[dict]:
        """Meeting summaries (the `<base>/meeting` object), newest first, at most MAX_MEETINGS."""
        ...

    def utterances_after(self, meeting_id: str, seq: int) -> list[Utterance]:
        """The meeting's utterances with a seq above `seq`, in seq order (none for an unknown meeting)."""
        ...

    def transcript(self, reference: str) -> tuple[dict, list[Utterance]]:
        """One meeting ("current", "last", an id or a prefix): its summary and its utterances."""
        ...

    def export(self, reference: str, fmt: str, tz: tzinfo) -> tuple[str, str]:
        """(meeting id, the meeting as text in `fmt`, one of export.FORMATS)."""
        ...


class JournalHistory:
    """MeetingHistory on the journal: one read-only connection per call, closed after it. A journal not
    written yet reads as one without meetings."""

    def __init__(self, path: Path | str):
        self.path = Path(path)

    def meetings(self) -> list[dict]:
        with self._reader() as reader:
            found = reader.meetings()
        return [m.to_json() for m in reversed(found[-MAX_MEETINGS:])]

    def utterances_after(self, meeting_id: str, seq: int) -> list[Utterance]:
        with self._reader() as reader:
            return reader.utterances(meeting_id, after_seq=seq)

    def transcript(self, reference: str) -> tuple[dict, list[Utterance]]:
        with self._reader() as reader:
            record = reader.record(self._resolve(reader, reference))
        return record.meeting.to_json(), list(record.utterances)

    def export(self, reference: str, fmt: str, tz: tzinfo) -> tuple[str, str]:
        with self._reader() as reader:
            record = reader.record(self._resolve(reader, reference))
        return record.meeting.id, export(record, fmt, tz)

    def _reader(self) -> closing[JournalReader]:
        return closing(JournalReader(self.path))

    @staticmethod
    def _resolve(reader: JournalReader, reference: str) -> str:
        try:
            return reader.resolve(reference)
        except (UnknownMeeting, AmbiguousMeeting) as exc:
            raise MeetingNotFound(str(exc)) from None
