"""The page's feed and the journal, as the composition root wires them (app/run.py `build_web`): an utterance
reaches the page once the journal's writer stored it (or holds it in memory on a full disk), so a page that
opens while an utterance is on its way to the disk still gets it, once.

A page subscribes to the live hub, then reads the meeting so far from the journal, then takes live records
de-duplicated on (meeting_id, seq). Were an utterance handed to the page before the writer committed it, one
handed over just before a page subscribed and committed just after its read would be missing on that page.
The writer is held inside a batch here (a write that waits on an event), which makes that moment last.
"""

from __future__ import annotations

import threading
import time

from roomscribe.app.run import build_web
from roomscribe.config import settings_from_data
from roomscribe.core.records import Event, StateMessage
from roomscribe.outputs.fanout import FanOut
from roomscribe.outputs.journal.journal import Journal
from roomscribe.outputs.journal.output import JournalOutput
from tests.outputs.archive.meetings import ROOM, T0, utterance
from tests.support.mosquitto import free_port
from tests.support.tmpfs import Tmpfs, needs_root
from tests.support.web_page import SseReader

MEETING = "77aa0000-1111-2222-3333-444455556666"


def wired(tmp_path, path=None, **journal_options):
    """The journal's output and the page's, in one fan-out as `roomscribe run` builds them; a meeting running."""
    settings = settings_from_data({"room": ROOM, "web": {"port": free_port()},
                                   "journal": {"path": str(path or tmp_path / "journal.sqlite3")}})
    journal = Journal.from_settings(settings, **journal_options)
    web = build_web(settings, journal)
    fanout = FanOut([JournalOutput(journal, ROOM), web])
    fanout.start()
    assert web.listening.wait(10), web.failed
    fanout.publish_event(Event("meeting_started", {"meeting_id": MEETING}, at=T0, room=ROOM))
    fanout.publish_state(StateMessage(state="transcribing", since=T0, meeting_id=MEETING, speaker_epoch=1,
                                      request_id=None, detail="", room=ROOM, audio="flowing"))
    return journal, web, fanout


def seqs(feed: SseReader) -> list[int]:
    return [e.data["seq"] for e in feed.of("utterance")]


def test_an_utterance_on_its_way_to_the_disk_when_a_page_opens_reaches_that_page_once(tmp_path):
    journal, web, fanout = wired(tmp_path)
    feeds = []
    try:
        for seq in (1, 2):
            fanout.submit_transcript(utterance(MEETING, seq, T0 + 5 * seq))
        assert journal.flush()
        early = SseReader("127.0.0.1", web.port)
        feeds.append(early)
        early.wait_for(lambda f: seqs(f) == [1, 2], what="the meeting so far")

        held_in_batch, release = threading.Event(), threading.Event()
        journal.writer.submit(lambda db: (held_in_batch.set(), release.wait(30)))
        assert held_in_batch.wait(10)  # the writer is inside a commit: seq 3 waits for the next one
        fanout.submit_transcript(utterance(MEETING, 3, T0 + 15))
        time.sleep(0.2)  # were the page handed seq 3 now, the hub would have it by then
        late = SseReader("127.0.0.1", web.port)  # subscribes, then reads the journal: seq 3 is not there yet
        feeds.append(late)
        late.wait_for(lambda f: seqs(f) == [1, 2], what="the late page's catch-up")
        release.set()
        for feed in (early, late):
            feed.wait_for(lambda f: seqs(f) == [1, 2, 3], what="seq 3, once stored")

        fanout.submit_transcript(utterance(MEETING, 4, T0 + 20))
        for feed in (early, late):
            feed.wait_for(lambda f: seqs(f) == [1, 2, 3, 4], what="the next one live")
        time.sleep(0.2)
        assert seqs(early) == seqs(late) == [1, 2, 3, 4]  # each once
    finally:
        release.set() if "release" in locals() else None
        for feed in feeds:
            feed.close()
        fanout.stop()


@needs_root
def test_on_a_full_disk_utterances_held_in_memory_reach_open_pages_and_pages_that_open_later(tmp_path):
    with Tmpfs(tmp_path / "disk", size_kib=512) as disk:
        journal, web, fanout = wired(tmp_path, disk.path / "journal.sqlite3", retry_s=0.2)
        feeds = []
        try:
            fanout.submit_transcript(utterance(MEETING, 1, T0 + 5))
            assert journal.flush()
            first = SseReader("127.0.0.1", web.port)
            feeds.append(first)
            first.wait_for(lambda f: seqs(f) == [1], what="the stored one")
            disk.fill()
            for seq in range(2, 6):
                fanout.submit_transcript(utterance(MEETING, seq, T0 + 5 * seq, text="words " * 60))
            deadline = time.monotonic() + 10
            while journal.health.ok or len(journal.deliveries) < 5:
                assert time.monotonic() < deadline, "the disk never refused"
                time.sleep(0.02)
            first.wait_for(lambda f: seqs(f) == [1, 2, 3, 4, 5], what="the held ones, live")
            later = SseReader("127.0.0.1", web.port)  # the file has seq 1; memory has 2 to 5
            feeds.append(later)
            later.wait_for(lambda f: seqs(f) == [1, 2, 3, 4, 5], what="stored and held, read together")
            disk.free()
            deadline = time.monotonic() + 10
            while not journal.health.ok:
                assert time.monotonic() < deadline, "the disk never took them"
                time.sleep(0.02)
            fanout.submit_transcript(utterance(MEETING, 6, T0 + 30))
            for feed in (first, later):
                feed.wait_for(lambda f: seqs(f)[-1:] == [6], what="the next one")
            time.sleep(0.2)
            assert seqs(first) == seqs(later) == [1, 2, 3, 4, 5, 6]  # stored after being held: not sent again
        finally:
            for feed in feeds:
                feed.close()
            fanout.stop()
