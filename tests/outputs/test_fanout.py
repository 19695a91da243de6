"""The fan-out: every output gets every record, in the owner's order, and stores come first."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import Future
from dataclasses import replace

from roomscribe.core.records import Event, StateMessage, Utterance
from roomscribe.outputs.archive.output import ArchiveOutput
from roomscribe.outputs.archive.store import ArchiveStore
from roomscribe.outputs.archive.writer import ArchiveWriter
from roomscribe.outputs.fanout import FanOut


def utterance(seq: int, meeting_id: str = "m1") -> Utterance:
    return Utterance(meeting_id, seq, "Guest-1", 1, f"line {seq}", 100.0 + seq, 100.5 + seq, seq * 1000, 500,
                     "en-US", "room")


def state(name: str, since: float, meeting_id: str | None = "m1") -> StateMessage:
    return StateMessage(state=name, since=since, meeting_id=meeting_id, speaker_epoch=1, request_id=None,
                        detail=name, room="room")


class Recording:
    """An output that records what it was handed, and whether the store had it durable by then."""

    def __init__(self, store=None):
        self.seen: list = []
        self.store = store
        self.stored_first: list[bool] = []
        self.threads: set[str] = set()

    def start(self): self.seen.append("start")
    def stop(self): self.seen.append("stop")
    def publish_state(self, msg): self.seen.append(("state", msg.state))
    def publish_event(self, event):
        self.threads.add(threading.current_thread().name)
        self.seen.append(("event", event.kind))
    def publish_partial(self, partial): self.seen.append(("partial", partial.text))
    def set_speech_connected(self, connected): self.seen.append(("speech", connected))

    def submit_transcript(self, utt):
        self.threads.add(threading.current_thread().name)
        self.seen.append(("utterance", utt.seq))
        if self.store is not None:
            self.stored_first.append(utt.seq in self.store.done)


class SlowStore(Recording):
    """A store whose writes complete when the test says so, on another thread."""

    def __init__(self):
        super().__init__()
        self.futures: dict[int, Future] = {}
        self.done: set[int] = set()

    def store_transcript(self, utt):
        self.futures[utt.seq] = Future()
        return self.futures[utt.seq]

    def complete(self, seq: int, exc: Exception | None = None) -> None:
        def run():
            self.done.add(seq)
            self.futures[seq].set_exception(exc) if exc else self.futures[seq].set_result(True)
        t = threading.Thread(target=run)
        t.start()
        t.join()


def test_records_behind_an_utterance_wait_for_it_and_order_holds_whatever_the_completion_order():
    async def main():
        store = SlowStore()
        link = Recording(store)
        fan = FanOut([store, link])
        fan.start()
        fan.submit_transcript(utterance(1))
        fan.publish_state(state("paused", 1.0))
        fan.submit_transcript(utterance(2))
        await asyncio.sleep(0.01)
        assert link.seen == ["start"]  # nothing overtakes utterance 1
        assert ("state", "paused") in store.seen  # the store itself gets the state at once
        store.complete(2)
        await asyncio.sleep(0.01)
        assert link.seen == ["start"]  # 2 is durable, 1 is not: still nothing
        store.complete(1)
        await asyncio.sleep(0.01)
        assert link.seen == ["start", ("utterance", 1), ("state", "paused"), ("utterance", 2)]
        assert link.stored_first == [True, True]
        fan.publish_event(Event("x", {}, 1.0, "room"))  # nothing pending: on its way at once
        await asyncio.sleep(0.01)
        assert link.seen[-1] == ("event", "x")
        # Never on the owner's loop: the link (and its outbox write) is called from the release thread.
        assert link.threads == {"output-release"}

    asyncio.run(main())


def test_a_failed_store_is_logged_and_the_utterance_published_anyway(caplog):
    async def main():
        store = SlowStore()
        link = Recording(store)
        fan = FanOut([store, link])
        fan.start()
        fan.submit_transcript(utterance(1))
        store.complete(1, OSError("disk full"))
        await asyncio.sleep(0.01)
        assert ("utterance", 1) in link.seen

    asyncio.run(main())
    assert "disk full" in caplog.text


def test_stop_drains_the_store_before_the_other_outputs_stop(tmp_path):
    async def main():
        nonlocal fan
        writer = ArchiveWriter(tmp_path / "a.sqlite3").start()
        link = Recording()
        fan = FanOut([ArchiveOutput(writer, "room"), link])
        fan.start()
        fan.publish_event(Event("meeting_started", {"meeting_id": "m1"}, 100.0, "room"))
        for seq in range(1, 51):
            fan.submit_transcript(utterance(seq))
        await asyncio.to_thread(fan.stop)  # as the owner stops its output
        return link.seen

    fan = None

    seen = asyncio.run(main())
    assert [s for s in seen if s[0] == "utterance"] == [("utterance", n) for n in range(1, 51)]
    assert seen[-1] == "stop"
    # A late utterance after the stop (a final arriving during shutdown) still reaches the link.
    fan.submit_transcript(utterance(51))
    assert seen[-1] == ("utterance", 51)
    store = ArchiveStore(tmp_path / "a.sqlite3", readonly=True)
    assert [u.seq for u in store.utterances("m1")] == list(range(1, 51))


def test_the_archive_output_derives_meetings_pauses_and_epochs_from_the_records(tmp_path):
    path = tmp_path / "a.sqlite3"
    summaries = []
    out = ArchiveOutput(ArchiveWriter(path).start(), "room", on_meeting_ended=summaries.append)
    out.start()
    out.publish_event(Event("meeting_started", {"meeting_id": "m1"}, 100.0, "room"))
    out.publish_state(state("transcribing", 100.5))
    out.store_transcript(utterance(1))
    out.publish_state(state("paused", 110.0))
    out.publish_state(state("paused", 110.0))  # the same state again (an acknowledged command): one pause
    out.publish_state(state("transcribing", 170.0))
    out.publish_event(Event("speaker_epoch_changed", {"meeting_id": "m1", "previous": 1, "speaker_epoch": 2},
                            171.0, "room"))
    out.publish_state(state("paused", 180.0))
    out.publish_event(Event("meeting_ended", {"meeting_id": "m1", "audio_sent_s": 42.5, "duration_s": 90.0},
                            190.0, "room"))
    out.publish_state(state("idle", 190.0, None))
    out.stop()
    store = ArchiveStore(path, readonly=True)
    record = store.record("m1")
    assert [(p.start, p.end) for p in record.pauses] == [(110.0, 170.0), (180.0, 190.0)]
    assert record.epochs == ((1, 100.0), (2, 171.0))
    assert (record.meeting.start, record.meeting.end) == (100.0, 190.0)
    assert (record.meeting.paused_seconds, record.meeting.audio_seconds) == (70.0, 42.5)
    assert [u.seq for u in record.utterances] == [1]
    assert [m.id for m in summaries] == ["m1"] and summaries[0].end == 190.0


def test_the_archive_output_moves_the_running_meeting_with_a_clock_step_and_takes_monotonic_pauses(tmp_path):
    """The daemon starts three days back and NTP steps the clock forward during a pause: what the archive
    holds of the meeting moves with the clock; its paused seconds are the event's monotonic paused_s."""
    day, path = 86400.0, tmp_path / "a.sqlite3"
    out = ArchiveOutput(ArchiveWriter(path).start(), "room")
    out.start()
    out.publish_event(Event("meeting_started", {"meeting_id": "old"}, 10.0, "room"))
    out.publish_event(Event("meeting_ended", {"meeting_id": "old"}, 20.0, "room"))  # ended: never moved
    back = -3 * day
    out.publish_event(Event("meeting_started", {"meeting_id": "m1"}, 100.0 + back, "room"))
    out.store_transcript(replace(utterance(1), start=101.0 + back, end=101.5 + back))  # stamped three days back
    out.publish_state(state("paused", 110.0 + back))
    out.publish_event(Event("clock_stepped", {"meeting_id": "m1", "step_s": 3 * day, "at": 140.0}, 140.0, "room"))
    out.publish_state(state("paused", 140.0))  # the owner says it again with the since moved
    out.publish_state(state("transcribing", 170.0))
    out.publish_event(Event("meeting_ended", {"meeting_id": "m1", "audio_sent_s": 1.0, "duration_s": 90.0,
                                              "paused_s": 59.9}, 190.0, "room"))
    out.stop()
    store = ArchiveStore(path, readonly=True)
    record = store.record("m1")
    assert (record.meeting.start, record.meeting.end) == (100.0, 190.0)
    assert [(p.start, p.end) for p in record.pauses] == [(110.0, 170.0)]
    assert record.epochs == ((1, 100.0),)
    assert [(u.start, u.end) for u in record.utterances] == [(101.0, 101.5)]
    assert record.meeting.paused_seconds == 59.9  # the monotonic figure, not the wall clock's 60
    old = store.record("old").meeting
    assert (old.start, old.end) == (10.0, 20.0)
