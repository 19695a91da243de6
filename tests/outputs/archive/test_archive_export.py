"""Exports, each parsed back by a real parser of its format and compared with the store."""

from __future__ import annotations

import html
import json
import re
import time
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import markdown_it
import pytest
import srt
import webvtt

from roomscribe.core.records import from_iso_utc
from roomscribe.outputs.archive.export import FORMATS, export
from roomscribe.outputs.journal.reader import JournalReader
from tests.outputs.archive.meetings import ROOM, T0, record_meeting, utterance
from tests.support.journal import JournalUnderTest


@pytest.fixture
def stored(tmp_path):
    with JournalUnderTest(tmp_path / "j.sqlite3") as journal:
        said = record_meeting(journal, "3f2a9c1e-6b1d", n=12)
    return JournalReader(tmp_path / "j.sqlite3").record("3f2a9c1e-6b1d"), said


def one_line(text: str) -> str:
    return " ".join(text.split())


def relative_ms(u_time: float) -> int:
    return round((u_time - T0) * 1000)


def vtt_ms(stamp: str) -> int:
    h, m, s = stamp.split(":")
    return round((int(h) * 3600 + int(m) * 60 + float(s)) * 1000)


def test_webvtt_parses_and_matches_the_store(stored):
    record, said = stored
    captions = webvtt.from_string(export(record, "vtt")).captions
    spoken = [c for c in captions if c.identifier.isdigit()]
    assert [int(c.identifier) for c in spoken] == [u.seq for u in said]
    for cue, u in zip(spoken, said):
        assert cue.voice == u.speaker
        assert html.unescape(cue.text) == one_line(u.text)
        payload = cue.raw_text.removeprefix(f"<v {u.speaker}>")
        assert "<" not in payload and "-->" not in payload  # no stray tags, no cue-timing arrow
        assert vtt_ms(cue.start) == relative_ms(u.start) and vtt_ms(cue.end) == relative_ms(u.end)
    pauses = [c for c in captions if c.identifier.startswith("pause-")]
    assert [(vtt_ms(c.start), vtt_ms(c.end)) for c in pauses] == [
        (relative_ms(p.start), relative_ms(p.end)) for p in record.pauses]
    assert "paused 2 min 0 s" in pauses[0].text
    epochs = [c for c in captions if c.identifier.startswith("epoch-")]
    assert [c.identifier for c in epochs] == ["epoch-2"] and "labels restart" in epochs[0].text
    assert vtt_ms(epochs[0].start) == relative_ms(said[8].start)


def test_srt_parses_and_matches_the_store(stored):
    record, said = stored
    cues = list(srt.parse(export(record, "srt")))
    assert [c.index for c in cues] == list(range(1, len(said) + 3))  # utterances, a pause, an epoch marker
    markers = [c for c in cues if c.content.startswith("[")]
    spoken = [c for c in cues if not c.content.startswith("[")]
    assert len(spoken) == len(said)
    for cue, u in zip(spoken, said):
        assert cue.content == f"{u.speaker}: {one_line(u.text)}"
        assert cue.start == timedelta(milliseconds=relative_ms(u.start))
        assert cue.end == timedelta(milliseconds=relative_ms(u.end))
    assert [m.content for m in markers] == ["[paused 2 min 0 s]", "[speaker labels restart: new speech session (epoch 2)]"]
    assert markers[0].start == timedelta(milliseconds=relative_ms(record.pauses[0].start))
    assert srt.compose(cues, reindex=False) == export(record, "srt")  # nothing the parser had to repair


def test_jsonl_parses_and_matches_the_store(stored):
    record, said = stored
    lines = [json.loads(line) for line in export(record, "jsonl").splitlines()]
    assert lines[0]["record"] == "meeting" and lines[0]["meeting_id"] == record.meeting.id
    assert lines[0]["utterances"] == 12 and lines[0]["paused_seconds"] == 120.0
    utterances = [line for line in lines if line["record"] == "utterance"]
    for line, u in zip(utterances, said, strict=True):
        expected = u.to_payload()
        del expected["event_type"]
        assert {k: v for k, v in line.items() if k != "record"} == expected
        assert from_iso_utc(line["start"]) == pytest.approx(u.start, abs=0.0005)
    kinds = [line["record"] for line in lines]
    assert kinds.index("pause") == kinds.index("utterance") + 4  # after seq 4, before seq 5
    assert [line["speaker_epoch"] for line in lines if line["record"] == "speaker_epoch"] == [1, 2]


def test_markdown_renders_with_speakers_times_and_no_stray_markup(stored):
    record, said = stored
    md = markdown_it.MarkdownIt("commonmark")
    tokens = md.parse(export(record, "md"))
    assert [t.tag for t in tokens if t.type == "heading_open"] == ["h1", "h2"]
    inlines = [t for t in tokens if t.type == "inline"]
    header = " ".join(t.content for t in inlines[:10])
    for needle in ("**Room:** boardroom", "**Date:** 2026-11-23", "09:30:00 – ", "UTC", "**Duration:** ",
                   "paused 2 min 0 s", "**Speakers:** Guest-1, Guest-2"):
        assert needle in header
    paragraphs = [[c for c in t.children if c.type != "text" or c.content] for t in inlines]
    spoken = [p for p in paragraphs if p and p[0].type == "strong_open" and re.match(r"\d\d:\d\d:\d\d ", p[1].content)]
    assert len(spoken) == len(said)
    for children, u in zip(spoken, said):
        kinds = [c.type for c in children]
        assert kinds == ["strong_open", "text", "strong_close", "text"], kinds  # the text made no markup
        stamp = datetime.fromtimestamp(u.start, timezone.utc).strftime("%H:%M:%S")
        assert children[1].content == f"{stamp} {u.speaker}:"
        assert children[3].content == " " + one_line(u.text)
    rendered = md.render(export(record, "md"))
    assert "<b>" not in rendered and "<a " not in rendered and "&lt;b&gt;not&lt;/b&gt;" in rendered
    assert "Paused 09:30:23 – 09:32:23 (2 min 0 s)" in rendered
    assert "Speaker labels restart here" in rendered


def test_txt_has_times_speakers_pause_and_epoch_markers(stored):
    record, said = stored
    lines = export(record, "txt").splitlines()
    assert lines[0] == f"Meeting {record.meeting.id} in {ROOM}"
    assert lines[1].startswith("2026-11-23 09:30:00 – ") and "UTC" in lines[1]
    body = [line for line in lines[4:] if line.startswith("[")]
    assert body == [f"[{datetime.fromtimestamp(u.start, timezone.utc):%H:%M:%S}] {u.speaker}: {one_line(u.text)}"
                    for u in said]
    assert lines.index("--- paused 09:30:23 – 09:32:23 (2 min 0 s) ---") == 4 + 4
    assert any(line.startswith("=== speaker labels restart") for line in lines)


def test_local_time_zone_is_named_and_used(stored):
    record, _ = stored
    text = export(record, "txt", ZoneInfo("Europe/Berlin"))
    assert "10:30:00 – " in text and "CET (UTC+01:00)" in text and "[10:30:03]" in text
    # cue times stay relative whatever the zone
    assert export(record, "vtt", ZoneInfo("Europe/Berlin")).split("\n\n")[2] == export(record, "vtt").split("\n\n")[2]


def test_a_running_meeting_and_an_open_pause_export(tmp_path):
    with JournalUnderTest(tmp_path / "j.sqlite3") as journal:
        journal.meeting_started("m-run", ROOM, T0, 1)
        journal.add_utterance(utterance("m-run", 1, T0 + 1))
        journal.pause_started("m-run", T0 + 10)
    record = JournalReader(tmp_path / "j.sqlite3", clock=lambda: T0 + 100).record("m-run")
    for fmt in FORMATS:
        assert export(record, fmt)
    assert "(still paused)" in export(record, "txt") and "running" in export(record, "md")
    assert list(srt.parse(export(record, "srt")))[-1].content == "[paused (still paused)]"
    webvtt.from_string(export(record, "vtt"))


def test_an_empty_meeting_exports(tmp_path):
    with JournalUnderTest(tmp_path / "j.sqlite3") as journal:
        journal.meeting_started("m-empty", ROOM, T0)
        journal.meeting_ended("m-empty", T0 + 60)
    record = JournalReader(tmp_path / "j.sqlite3").record("m-empty")
    assert list(srt.parse(export(record, "srt"))) == []
    assert webvtt.from_string(export(record, "vtt")).captions == []
    assert "Speakers:** none" in export(record, "md")


def test_unknown_format():
    with pytest.raises(ValueError, match="txt, md, jsonl, vtt, srt"):
        export(None, "docx")


def test_a_three_hour_meeting_exports_in_well_under_a_second(tmp_path):
    with JournalUnderTest(tmp_path / "j.sqlite3", wait=False) as journal:
        record_meeting(journal, "long", n=2000)
        journal.flush()
    reader = JournalReader(tmp_path / "j.sqlite3")
    t0 = time.perf_counter()
    record = reader.record("long")
    read_s = time.perf_counter() - t0
    assert record.utterances[-1].start - record.meeting.start > 10_000 - 600  # about 3 h
    for fmt in FORMATS:
        t0 = time.perf_counter()
        export(record, fmt)
        assert time.perf_counter() - t0 + read_s < 0.5, fmt
