"""What the daemon's archive holds, compared with what its subscribers saw on `meeting/transcript`."""

from __future__ import annotations

import time
from pathlib import Path

from roomscribe.outputs.archive.meetings import MeetingRecord
from roomscribe.outputs.archive.store import ArchiveStore


def records(path: Path) -> list[MeetingRecord]:
    """Every meeting in the archive, read-only (the daemon may still be writing)."""
    store = ArchiveStore(path, readonly=True)
    try:
        return [store.record(m.id) for m in store.meetings()]
    finally:
        store.close()


def archived_payloads(path: Path) -> list[dict]:
    """Every archived utterance as its `meeting/transcript` payload, meeting by meeting, in seq order."""
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
    """The archive holds exactly the utterances published, field for field.

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
        f"archive {[key(u) for u in stored]} != published {[key(u) for u in seen]}")
    return stored
