"""The journal as one of the owner's outputs: what it derives from the records every output gets, the events
other parts of the daemon publish included (`audio_lost`, `clock_stepped`, `meeting_ended` with `paused_s`)."""

from __future__ import annotations

from roomscribe.core.records import Event, StateMessage, Utterance, iso_utc
from roomscribe.outputs.journal.output import JournalOutput
from roomscribe.outputs.journal.reader import JournalReader
from tests.support.journal import JournalUnderTest


def utterance(seq: int, at: float) -> Utterance:
    return Utterance("m1", seq, "Guest-1", 1, f"line {seq}", at, at + 0.5, seq * 1000, 500, "en-US", "room")


def state(name: str, since: float, meeting_id: str | None = "m1") -> StateMessage:
    return StateMessage(state=name, since=since, meeting_id=meeting_id, speaker_epoch=1, request_id=None,
                        detail=name, room="room")


def event(kind: str, when: float, **detail) -> Event:
    return Event(kind, {"meeting_id": "m1", **detail}, when, "room")


def test_meetings_pauses_epochs_and_the_summary_from_the_records(tmp_path):
    summaries = []
    with JournalUnderTest(tmp_path / "j.sqlite3") as journal:
        out = JournalOutput(journal.journal, "room", on_meeting_ended=summaries.append)
        out.publish_event(event("meeting_started", 100.0))
        out.publish_state(state("transcribing", 100.5))
        out.submit_transcript(utterance(1, 101.0))
        out.publish_state(state("paused", 110.0))
        out.publish_state(state("paused", 110.0))  # the same state again (an acknowledged command): one pause
        out.publish_state(state("transcribing", 170.0))
        out.publish_event(event("speaker_epoch_changed", 171.0, previous=1, speaker_epoch=2))
        out.publish_state(state("paused", 180.0))
        out.publish_partial(None)  # never kept
        out.publish_event(event("meeting_ended", 190.0, audio_sent_s=42.5, duration_s=90.0))
        out.publish_state(state("idle", 190.0, None))
        journal.flush()
    record = JournalReader(tmp_path / "j.sqlite3").record("m1")
    assert [(p.start, p.end) for p in record.pauses] == [(110.0, 170.0), (180.0, 190.0)]
    assert record.epochs == ((1, 100.0), (2, 171.0))
    assert (record.meeting.start, record.meeting.end) == (100.0, 190.0)
    assert (record.meeting.paused_seconds, record.meeting.audio_seconds) == (70.0, 42.5)
    assert [u.seq for u in record.utterances] == [1]
    assert [m.id for m in summaries] == ["m1"] and summaries[0].end == 190.0


def test_the_events_of_a_stall_and_of_a_clock_step_reach_the_record(tmp_path):
    """audio_lost (the stall's lost span), clock_stepped (NTP after boot) and meeting_ended's monotonic paused_s,
    published through the output seam as the owner publishes every event; malformed ones change nothing."""
    step = 3 * 86400.0
    summaries = []
    with JournalUnderTest(tmp_path / "j.sqlite3") as journal:
        out = JournalOutput(journal.journal, "room", on_meeting_ended=summaries.append)
        out.publish_event(event("meeting_started", 100.0))
        out.submit_transcript(utterance(1, 101.0))
        out.publish_event(event("audio_lost", 140.0, start=110.0, end=130.5, seconds=20.5, reason="service stalled"))
        out.publish_event(event("audio_lost", 141.0, start="soon", end=1, seconds=1, reason="x"))  # not a time
        out.publish_event(Event("audio_lost", "a text, not an object", 141.0, "room"))
        out.publish_state(state("paused", 150.0))
        out.publish_event(event("clock_stepped", 150.0 + step, step_s=step, at=150.0 + step))
        out.publish_event(event("clock_stepped", 151.0 + step, step_s=True))  # a bool is no number
        out.publish_state(state("transcribing", 160.0 + step))
        out.submit_transcript(utterance(2, 161.0 + step))
        out.publish_event(event("meeting_ended", 170.0 + step, audio_sent_s=33.0, duration_s=70.0, paused_s=10.0))
        journal.flush()
    record = JournalReader(tmp_path / "j.sqlite3").record("m1")
    m = record.meeting
    assert m.end - m.start == 70.0  # not three days
    assert (m.lost_seconds, m.lost_spans) == (20.5, 1)
    assert [(s.start, s.end, s.reason) for s in record.lost] == [(110.0 + step, 130.5 + step, "service stalled")]
    assert [u.start for u in record.utterances] == [101.0 + step, 161.0 + step]
    assert m.paused_seconds == 10.0 and [(p.start, p.end) for p in record.pauses] == [(150.0 + step, 160.0 + step)]
    assert JournalReader(tmp_path / "j.sqlite3").payloads("m1", limit=1)[0][1].count(iso_utc(101.0 + step).encode())
    [summary] = summaries
    assert summary.to_json()["lost_seconds"] == 20.5 and summary.to_json()["lost_spans"] == 1


def test_with_the_record_off_there_is_no_summary(tmp_path):
    from roomscribe.outputs.journal.file import Policy

    summaries = []
    with JournalUnderTest(tmp_path / "j.sqlite3", Policy(keep_record=False)) as journal:
        out = JournalOutput(journal.journal, "room", on_meeting_ended=summaries.append)
        out.publish_event(event("meeting_started", 100.0))
        out.publish_event(event("meeting_ended", 110.0, audio_sent_s=1.0))
        journal.flush()
    assert summaries == []


def test_a_late_utterance_keeps_its_late_mark_in_the_journal_and_what_is_read_back(tmp_path):
    """An utterance of audio that waited through an outage (app/outage.py) is stored whole: catch-up, the page and
    the exports read `late` and `late_by_s` back as they were published."""
    import dataclasses
    import json

    late = dataclasses.replace(utterance(2, 130.0), late=True, late_by_s=41.5)
    with JournalUnderTest(tmp_path / "j.sqlite3") as journal:
        out = JournalOutput(journal.journal, "room")
        out.publish_event(event("meeting_started", 100.0))
        out.submit_transcript(utterance(1, 101.0))
        out.submit_transcript(late)
        journal.flush()
    reader = JournalReader(tmp_path / "j.sqlite3")
    assert [(u.late, u.late_by_s) for u in reader.record("m1").utterances] == [(False, None), (True, 41.5)]
    payload = json.loads(reader.payloads("m1")[1][1])
    assert (payload["late"], payload["late_by_s"]) == (True, 41.5)
