"""What the daemon's journal keeps of the meetings, compared with what its subscribers saw on `meeting/transcript`."""

from __future__ import annotations

import time
from pathlib import Path

from roomscribe.outputs.archive.meetings import MeetingRecord
from tests.support.journal import read_records


def records(path: Path) -> list[MeetingRecord]:
    """Every meeting in the journal, read-only (the daemon may still be writing)."""
    return read_records(path)


def archived_payloads(path: Path) -> list[dict]:
    """Every recorded utterance as its `meeting/transcript` payload, meeting by meeting, in seq order."""
    return [u.to_payload() for record in records(path) for u in record.utterances]


def first_copies(published: list[dict]) -> list[dict]:
    """QoS 1 is at least once: the first copy of each (meeting_id, seq)."""
    seen, out = set(), []
    for item in published:
        key = (item["meeting_id"], item["seq"])
        if key not in seen:
            seen.add(key)
            out.append(item)
    return out


def assert_archive_holds_exactly(path: Path, published, timeout: float = 10.0) -> list[dict]:
    """The journal's record holds exactly the utterances published, field for field.

    `published` is a callable returning the payloads seen so far: after a stop, the last utterance may
    still be on its way to the subscriber, so the comparison is retried until it holds or `timeout`.
    """
    deadline = time.monotonic() + timeout
    while True:
        stored = archived_payloads(path)
        seen = sorted(first_copies(published()), key=lambda u: (u["meeting_id"], u["seq"]))
        key = lambda u: (u["meeting_id"], u["seq"])  # noqa: E731
        if sorted(stored, key=key) == seen or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert sorted(stored, key=key) == seen, (
        f"record {[key(u) for u in stored]} != published {[key(u) for u in seen]}")
    return stored
