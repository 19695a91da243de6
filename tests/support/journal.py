"""A journal for tests: started on a path, with the record's writes as calls that return once committed."""

from __future__ import annotations

from pathlib import Path

from roomscribe.outputs.journal import writes
from roomscribe.outputs.journal.file import Policy
from roomscribe.outputs.journal.journal import Journal
from roomscribe.outputs.journal.reader import JournalReader

TIMEOUT = 30  # a commit on a busy shared machine can take seconds


class JournalUnderTest:
    """`Journal` plus blocking calls: each queues its write on the writer's thread and waits for the commit."""

    def __init__(self, path: Path | str, policy: Policy = Policy(), *, wait: bool = True, **kwargs):
        """`wait=False`: calls only queue (many writes share a commit); `flush()` waits for them all.
        `reports` lists what the journal tells the owner (StorageReport), from before it starts."""
        self.path = Path(path)
        self.reports: list = []
        self.journal = Journal(self.path, policy, **kwargs)
        self.journal.set_health_handler(self.reports.append)
        self.journal.start()
        self.writer = self.journal.writer
        self.wait = wait

    def _do(self, write, *args):
        future = self.writer.submit(write, *args)
        return future.result(TIMEOUT) if self.wait else future

    def flush(self) -> None:
        assert self.journal.flush(TIMEOUT)

    def events(self, kind: str | None = None) -> list:
        return [r.event for r in self.reports if r.event is not None and kind in (None, r.event.kind)]

    def meeting_started(self, meeting_id: str, room: str, at: float, speaker_epoch: int | None = None) -> None:
        self._do(writes.meeting_started, meeting_id, room, at, speaker_epoch)

    def meeting_ended(self, meeting_id: str, at: float, paused_s: float | None = None) -> None:
        self._do(writes.meeting_ended, meeting_id, at, paused_s)

    def pause_started(self, meeting_id: str, at: float) -> None:
        self._do(writes.pause_started, meeting_id, at)

    def pause_ended(self, meeting_id: str, at: float) -> None:
        self._do(writes.pause_ended, meeting_id, at)

    def speaker_epoch(self, meeting_id: str, epoch: int, at: float) -> None:
        self._do(writes.speaker_epoch, meeting_id, epoch, at)

    def audio_seconds(self, meeting_id: str, total: float) -> None:
        self._do(writes.audio_seconds, meeting_id, total)

    def audio_lost(self, meeting_id: str, start: float, end: float, seconds: float, reason: str) -> None:
        self._do(writes.audio_lost, meeting_id, start, end, seconds, reason)

    def clock_stepped(self, meeting_id: str, step_s: float) -> None:
        self._do(writes.clock_stepped, meeting_id, step_s)

    def add_utterance(self, utterance) -> bool:
        future = self.writer.utterance(utterance)
        return future.result(TIMEOUT) if self.wait else future

    def end_unfinished(self, room: str) -> list[str]:
        return self._do(writes.end_unfinished, room)

    def query(self, ask):
        """`ask(db)` on the writer's own connection, on its thread, in order with the writes."""
        return self.writer.submit(ask).result(TIMEOUT)

    def reader(self, **kwargs) -> JournalReader:
        return JournalReader(self.path, **kwargs)

    def close(self) -> None:
        self.journal.close()

    def __enter__(self) -> "JournalUnderTest":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def read_records(path: Path | str):
    """Every meeting of a journal as a MeetingRecord, read-only (the daemon may still be writing)."""
    with JournalReader(path) as reader:
        return [reader.record(m.id) for m in reader.meetings()]


def waiting_on_disk(path: Path | str) -> list[tuple[str, int]]:
    """(meeting_id, seq) of the utterances a journal holds for the broker, in delivery order: what a daemon
    started on it would deliver first (read through the journal's own delivery view, read-only)."""
    from roomscribe.outputs.journal.waiting import Deliveries, Waiting

    view = Deliveries(Path(path), Waiting())
    try:
        return [(p.meeting_id, p.seq) for p in view.pending(limit=100_000)]
    finally:
        view.close()
