"""What waits for the broker: the MQTT link's view of the journal, its order, its bounds, and what the
link reports back."""

from __future__ import annotations

import json

from roomscribe.outputs.journal.file import Policy
from tests.outputs.archive.meetings import ROOM, T0, utterance
from tests.support.journal import JournalUnderTest, waiting_on_disk

DAY = 86400.0


def test_the_link_sees_the_journals_order_and_an_acknowledged_utterance_never_again(tmp_path):
    with JournalUnderTest(tmp_path / "j.sqlite3", wait=False) as journal:
        for seq in range(1, 8):
            journal.add_utterance(utterance("m1", seq, T0 + seq))
        journal.flush()
        view = journal.journal.deliveries
        assert [p.seq for p in view.pending(limit=100)] == list(range(1, 8))
        assert [p.seq for p in view.pending(limit=3)] == [1, 2, 3]
        third = view.pending(limit=3)[2].row_id
        assert [p.seq for p in view.pending(limit=3, after=third)] == [4, 5, 6]
        view.mark_delivered(view.pending()[0].row_id, third)
        assert [p.seq for p in view.pending()] == [2, 4, 5, 6, 7]  # at once: before the ack is written
        assert len(view) == 5
        payload = json.loads(view.pending(limit=1)[0].payload)
        assert payload["meeting_id"] == "m1" and payload["seq"] == 2 and payload["text"] == "utterance number 2"
    assert waiting_on_disk(tmp_path / "j.sqlite3") == [("m1", s) for s in (2, 4, 5, 6, 7)]  # and after the close


def test_beyond_max_waiting_the_oldest_are_no_longer_sent_and_an_event_says_which(tmp_path):
    with JournalUnderTest(tmp_path / "j.sqlite3", Policy(max_waiting=10)) as journal:
        for seq in range(1, 14):
            journal.add_utterance(utterance("m1", seq, T0 + seq))
        assert waiting_on_disk(journal.path) == [("m1", s) for s in range(4, 14)]
        assert len(journal.journal.deliveries) == 10
        drops = [e.detail for e in journal.events("outbox_dropped")]
        assert drops == [{"reason": "max_messages", "count": 1, "first": {"meeting_id": "m1", "seq": s},
                          "last": {"meeting_id": "m1", "seq": s}} for s in (1, 2, 3)]
        assert journal.reader().meeting("m1").utterances == 13  # no longer sent, still in the record


def test_with_the_record_off_what_is_no_longer_sent_is_gone(tmp_path):
    with JournalUnderTest(tmp_path / "j.sqlite3", Policy(keep_record=False, max_waiting=10)) as journal:
        for seq in range(1, 14):
            journal.add_utterance(utterance("m1", seq, T0 + seq))
        assert journal.reader().meeting("m1").utterances == 10


def test_max_waiting_days_at_start(tmp_path):
    now = [T0]
    path = tmp_path / "j.sqlite3"
    with JournalUnderTest(path, clock=lambda: now[0]) as journal:
        journal.meeting_started("m1", ROOM, T0)
        for seq in (1, 2):
            journal.add_utterance(utterance("m1", seq, T0 + seq))
        now[0] += DAY
        journal.add_utterance(utterance("m1", 3, T0 + 3))
    now[0] += 1.5 * DAY  # 1 and 2 are now 2.5 days old, 3 is 1.5 days
    with JournalUnderTest(path, Policy(max_waiting_s=2 * DAY), clock=lambda: now[0]) as journal:
        journal.flush()
        assert waiting_on_disk(path) == [("m1", 3)]
        assert len(journal.journal.deliveries) == 1
    assert [e.detail for e in journal.events()] == [
        {"reason": "max_age", "count": 2, "first": {"meeting_id": "m1", "seq": 1}, "last": {"meeting_id": "m1", "seq": 2}}]
