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
from typing import Any, Callable, Protocol

from roomscribe.core.records import Utterance
from roomscribe.outputs.archive.export import export
from roomscribe.outputs.archive.meetings import AmbiguousMeeting, UnknownMeeting
from roomscribe.outputs.journal.queries import utterance_from_payload
from roomscribe.outputs.journal.reader import JournalReader
from roomscribe.outputs.journal.waiting import Pending

MAX_MEETINGS = 200  # the list the page shows: the newest


# A meeting's summary as the page and `<base>/meeting` carry it (outputs/archive/meetings.py Meeting.to_json).
MeetingSummary = dict[str, Any]


class MeetingNotFound(LookupError):
    """No such meeting, or a prefix that names several: the message says which."""


class MeetingHistory(Protocol):
    def meetings(self) -> list[MeetingSummary]:
        """Meeting summaries (the `<base>/meeting` object), newest first, at most MAX_MEETINGS."""
        ...

    def utterances_after(self, meeting_id: str, seq: int) -> list[Utterance]:
        """The meeting's utterances with a seq above `seq`, in seq order (none for an unknown meeting)."""
        ...

    def transcript(self, reference: str) -> tuple[MeetingSummary, list[Utterance]]:
        """One meeting ("current", "last", an id or a prefix): its summary and its utterances."""
        ...

    def export(self, reference: str, fmt: str, tz: tzinfo) -> tuple[str, str]:
        """(meeting id, the meeting as text in `fmt`, one of export.FORMATS)."""
        ...


class JournalHistory:
    """MeetingHistory on the journal: one read-only connection per call, closed after it. A journal not
    written yet reads as one without meetings.

    `held` is the journal's view of the utterances it holds in memory while the disk refuses them
    (`Waiting.held_of`): the page was sent those live, so a page that opens meanwhile reads them too. They
    are read before the file, so one being stored meanwhile is found in one or the other (or both: once)."""

    def __init__(self, path: Path | str, held: Callable[[str, int], list[Pending]] | None = None):
        self.path = Path(path)
        self._held = held

    def meetings(self) -> list[MeetingSummary]:
        with self._reader() as reader:
            found = reader.meetings()
        return [m.to_json() for m in reversed(found[-MAX_MEETINGS:])]

    def utterances_after(self, meeting_id: str, seq: int) -> list[Utterance]:
        held = self._held(meeting_id, seq) if self._held is not None else []
        with self._reader() as reader:
            stored = reader.utterances(meeting_id, after_seq=seq)
        if not held:
            return stored
        found = {u.seq: u for u in map(utterance_from_payload, (p.payload for p in held))}
        found.update((u.seq, u) for u in stored)
        return [found[s] for s in sorted(found)]

    def transcript(self, reference: str) -> tuple[MeetingSummary, list[Utterance]]:
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
