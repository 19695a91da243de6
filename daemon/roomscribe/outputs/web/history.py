"""What the page reads from the meeting record, behind one small protocol.

The page needs four things from the archive: the meetings, a meeting's utterances after a seq (the
feed's catch-up), one meeting with its utterances (a past meeting opened on the page), and a meeting
exported in a format. `MeetingHistory` is that, and `ArchiveHistory` implements it on the archive's
read-only API (outputs/archive/: reading.py through a read-only `ArchiveStore`, export.py). Pointing
the page at another store is a new implementation of this protocol and one line in app/run.py.

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
from roomscribe.outputs.archive.store import ArchiveStore

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


class ArchiveHistory:
    """MeetingHistory on today's archive: one read-only connection per call, closed after it."""

    def __init__(self, path: Path | str):
        self.path = Path(path)

    def meetings(self) -> list[dict]:
        with self._store() as store:
            found = store.meetings()
        return [m.to_json() for m in reversed(found[-MAX_MEETINGS:])]

    def utterances_after(self, meeting_id: str, seq: int) -> list[Utterance]:
        with self._store() as store:
            return store.utterances(meeting_id, after_seq=seq)

    def transcript(self, reference: str) -> tuple[dict, list[Utterance]]:
        with self._store() as store:
            record = store.record(self._resolve(store, reference))
        return record.meeting.to_json(), list(record.utterances)

    def export(self, reference: str, fmt: str, tz: tzinfo) -> tuple[str, str]:
        with self._store() as store:
            record = store.record(self._resolve(store, reference))
        return record.meeting.id, export(record, fmt, tz)

    def _store(self) -> closing[ArchiveStore]:
        return closing(ArchiveStore(self.path, readonly=True))

    @staticmethod
    def _resolve(store: ArchiveStore, reference: str) -> str:
        try:
            return store.resolve(reference)
        except (UnknownMeeting, AmbiguousMeeting) as exc:
            raise MeetingNotFound(str(exc)) from None
