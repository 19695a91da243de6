"""Exports, each parsed back by a real parser of its format and compared with the store."""

from __future__ import annotations

import html
import json
import re
import time
from dataclasses import replace
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


class Store(JournalUnderTest):
    """The journal written through its writer, read back as the command line and the page read it."""

    def __init__(self, path, *, clock=time.time):
        super().__init__(path)
        self._read_clock = clock

    def record(self, meeting_id: str):
        self.flush()
        with JournalReader(self.path, clock=self._read_clock) as reader:
            return reader.record(meeting_id)


@pytest.fixture
def open_store(tmp_path):
    made: list[Store] = []

    def make(name: str = "a.sqlite3", **kwargs) -> Store:
        made.append(Store(tmp_path / name, **kwargs))
        return made[-1]

    yield make
    for store in made:
        store.close()


@pytest.fixture
def stored(open_store):
    store = open_store()
    said = record_meeting(store, "3f2a9c1e-6b1d", n=12)
    return store.record("3f2a9c1e-6b1d"), said


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


def test_a_running_meeting_and_an_open_pause_export(open_store):
    store = open_store("a.sqlite3", clock=lambda: T0 + 100)
    store.meeting_started("m-run", ROOM, T0, 1)
    store.add_utterance(utterance("m-run", 1, T0 + 1))
    store.pause_started("m-run", T0 + 10)
    record = store.record("m-run")
    for fmt in FORMATS:
        assert export(record, fmt)
    assert "(still paused)" in export(record, "txt") and "running" in export(record, "md")
    assert list(srt.parse(export(record, "srt")))[-1].content == "[paused (still paused)]"
    webvtt.from_string(export(record, "vtt"))


def test_an_empty_meeting_exports(open_store):
    store = open_store("a.sqlite3")
    store.meeting_started("m-empty", ROOM, T0)
    store.meeting_ended("m-empty", T0 + 60)
    record = store.record("m-empty")
    assert list(srt.parse(export(record, "srt"))) == []
    assert webvtt.from_string(export(record, "vtt")).captions == []
    assert "Speakers:** none" in export(record, "md")


def test_unknown_format():
    with pytest.raises(ValueError, match="txt, md, jsonl, vtt, srt"):
        export(None, "docx")


def test_a_three_hour_meeting_exports_whole_in_every_format(open_store):
    # How fast is a benchmark's question (bench/bench_archive.py), not a test's: a busy machine must not fail it.
    store = open_store("a.sqlite3")
    store.wait = False  # the writes share commits
    record_meeting(store, "long", n=2000)
    record = store.record("long")
    assert record.utterances[-1].start - record.meeting.start > 10_000 - 600  # about 3 h
    assert len(record.utterances) == 2000
    cues = webvtt.from_string(export(record, "vtt")).captions
    assert sum(c.voice is not None for c in cues) == 2000  # one voiced cue an utterance, beside the pause's and epoch's
    assert len(list(srt.parse(export(record, "srt")))) == len(cues)
    assert sum(1 for line in export(record, "jsonl").splitlines() if json.loads(line)["record"] == "utterance") == 2000


def test_a_mixed_language_meeting_shows_each_lines_language(open_store):
    store = open_store("a.sqlite3")
    store.meeting_started("m-lang", ROOM, T0, 1)
    said = []
    for seq, (language, text) in enumerate([("en-US", "Welcome to Contoso."), ("de-DE", "Guten Morgen."),
                                            ("en-US", "Shall we begin?"), ("und", "mm")], start=1):
        u = utterance("m-lang", seq, T0 + 3 * seq, text=text)
        u = type(u)(**{**{f: getattr(u, f) for f in u.__slots__}, "language": language})
        store.add_utterance(u)
        said.append(u)
    store.meeting_ended("m-lang", T0 + 20)
    record = store.record("m-lang")
    txt = export(record, "txt").splitlines()
    assert txt[2].endswith("; languages: en-US, de-DE, und")
    assert [line.split("] ", 1)[1] for line in txt if line.startswith("[")] == [
        "Guest-2 (en-US): Welcome to Contoso.", "Guest-1 (de-DE): Guten Morgen.", "Guest-2 (en-US): Shall we begin?",
        "Guest-1 (und): mm"]
    assert "- **Languages:** en-US, de-DE, und" in export(record, "md")
    assert "Guest-1 (de-DE):** Guten Morgen." in export(record, "md")
    captions = webvtt.from_string(export(record, "vtt")).captions
    assert [(c.voice, c.text) for c in captions] == [(u.speaker, u.text) for u in said]
    assert [re.search(r"<lang ([^>]+)>", c.raw_text).group(1) for c in captions] == [u.language for u in said]
    assert [c.content for c in srt.parse(export(record, "srt"))][1] == "Guest-1 (de-DE): Guten Morgen."
    lines = [json.loads(line) for line in export(record, "jsonl").splitlines()]
    assert [line["language"] for line in lines if line["record"] == "utterance"] == [u.language for u in said]
    single = open_store("b.sqlite3")
    record_meeting(single, "m-one", n=2)
    assert "(en-US)" not in export(single.record("m-one"), "txt") + export(single.record("m-one"), "srt")
# -- cues stay valid whatever the wall clock did while the meeting was recorded ------------------------

DAY = 86400.0


def cue_times(record) -> list[tuple[timedelta, timedelta, str]]:
    """(start, end, text) of every cue, from both formats, which must agree."""
    vtt = [(timedelta(milliseconds=vtt_ms(c.start)), timedelta(milliseconds=vtt_ms(c.end)), c.identifier)
           for c in webvtt.from_string(export(record, "vtt")).captions]
    subtitles = list(srt.parse(export(record, "srt")))
    assert [(s.start, s.end) for s in subtitles] == [(start, end) for start, end, _ in vtt]
    return vtt


def assert_valid(cues, length_s: float) -> None:
    for start, end, name in cues:
        assert timedelta(0) <= start < end, name
        assert end - start >= timedelta(milliseconds=100), name
        assert end <= timedelta(seconds=length_s, milliseconds=100), name
    assert [c[0] for c in cues] == sorted(c[0] for c in cues)


def test_a_meeting_recorded_across_a_step_without_correction_still_gives_valid_cues(open_store):
    """What an older roomscribe stored when NTP stepped the clock by three days mid-meeting: the start and
    the first half three days back, a pause and an utterance spanning the step, the rest on the new clock."""
    store = open_store("a.sqlite3")
    back = T0 - 3 * DAY
    store.meeting_started("m-step", ROOM, back, 1)
    store.add_utterance(utterance("m-step", 1, back + 3))
    spanning = utterance("m-step", 2, back + 10)
    store.add_utterance(replace(spanning, end=T0 + 12))  # 72 h by the wall clock, 2.25 s heard
    store.pause_started("m-step", back + 15)
    store.pause_ended("m-step", T0 + 18)
    store.add_utterance(utterance("m-step", 3, T0 + 20))
    store.meeting_ended("m-step", T0 + 30)
    record = store.record("m-step")
    cues = cue_times(record)
    assert_valid(cues, record.meeting.end - record.meeting.start)
    spoken = {name: end - start for start, end, name in cues if name.isdigit()}
    assert spoken["2"] == timedelta(milliseconds=2250)  # what the service heard, not 72 hours


def test_utterances_stamped_before_the_meeting_started_are_not_zero_length_cues(open_store):
    """The file source of an older roomscribe: the meeting started after a step, its audio stamped days back."""
    store = open_store("a.sqlite3")
    store.meeting_started("m-file", ROOM, T0, 1)
    for seq in (1, 2, 3):
        store.add_utterance(utterance("m-file", seq, T0 - 3 * DAY + seq * 5))
    store.meeting_ended("m-file", T0 + 20)
    cues = cue_times(store.record("m-file"))
    assert_valid(cues, 20)
    assert [c[0] for c in cues] == [timedelta(0)] * 3 and all(c[1] > c[0] for c in cues)


def test_a_clock_set_back_mid_meeting_gives_cues_in_order(open_store):
    store = open_store("a.sqlite3")
    store.meeting_started("m-back", ROOM, T0, 1)
    store.add_utterance(utterance("m-back", 1, T0 + 30))
    store.add_utterance(utterance("m-back", 2, T0 + 5))  # stepped back by half a minute
    store.add_utterance(utterance("m-back", 3, T0 + 40))
    store.meeting_ended("m-back", T0 - 60)  # even an end before the start
    record = store.record("m-back")
    cues = cue_times(record)
    assert [c[2] for c in cues] == ["1", "2", "3"]
    assert_valid(cues, 0)


def test_every_format_shows_the_names_given_later_and_labels_where_there_are_none(open_store):
    from roomscribe.core.names import SpeakerNaming
    from roomscribe.outputs.journal.names import name_in_record

    store = open_store()
    record_meeting(store, "3f2a9c1e-6b1d", n=12)  # speaker epoch 2 from the 9th line
    for speaker, new, epoch in (("Guest-1", "Alice <Smith> & *Co*", 1), ("Guest-2", "Bob", 2)):
        naming = SpeakerNaming(speaker, new, meeting_id="3f2a9c1e-6b1d", speaker_epoch=epoch)
        store.query(lambda db, n=naming: name_in_record(db, n, None, T0))
    record = store.record("3f2a9c1e-6b1d")
    expected = {(1, "Guest-1"): "Alice <Smith> & *Co*", (2, "Guest-2"): "Bob"}

    def who(u) -> str:
        return expected.get((u.speaker_epoch, u.speaker), u.speaker)

    assert [u.speaker_name for u in record.utterances] == [
        expected.get((u.speaker_epoch, u.speaker)) for u in record.utterances]
    txt = export(record, "txt")
    assert "Speakers: Alice <Smith> & *Co* (Guest-1), Guest-2; from speaker epoch 2 (labels restart): Guest-1, " \
           "Bob (Guest-2)" in txt
    assert [line.split("] ", 1)[1].split(": ", 1)[0] for line in txt.splitlines() if line.startswith("[")] == \
        [who(u) for u in record.utterances]
    cues = [c for c in webvtt.from_string(export(record, "vtt")).captions if c.identifier.isdigit()]
    assert [html.unescape(c.voice) for c in cues] == [who(u) for u in record.utterances]  # escaped, as WebVTT asks
    subtitles = list(srt.parse(export(record, "srt")))
    assert [s.content.split(": ", 1)[0] for s in subtitles if not s.content.startswith("[")] == \
        [who(u) for u in record.utterances]
    md = markdown_it.MarkdownIt().render(export(record, "md"))
    assert "Alice &lt;Smith&gt; &amp; *Co*:</strong>" in md and "<em>Co</em>" not in md  # a name is never markup
    lines = [json.loads(line) for line in export(record, "jsonl").splitlines()]
    assert lines[0]["speakers"][0] == {"speaker_epoch": 1, "speaker": "Guest-1", "name": "Alice <Smith> & *Co*"}
    assert [(u["speaker"], u["speaker_name"]) for u in lines if u["record"] == "utterance"] == [
        (u.speaker, expected.get((u.speaker_epoch, u.speaker))) for u in record.utterances]

