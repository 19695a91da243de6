"""A meeting as text: plain text, Markdown minutes, JSON Lines, WebVTT and SRT.

Made from a `store.MeetingRecord`, the same in every format:
* speakers by the names given to their voices (the names of now: `speaker_name` as the record's reader
  sets it), else as the service labelled them (Guest-1, Guest-2 …); the header lists each label with
  its name; where the speaker epoch changes (a new cloud session, whose labels start again) a visible
  marker says that Guest-1 after it is not Guest-1 before it;
* pauses as markers with their start, end and length; nothing was recorded during them;
* txt and md show wall-clock times in the time zone given (UTC unless told otherwise; the header
  names it); jsonl carries UTC ISO 8601 like the MQTT payloads; WebVTT and SRT cue times are
  relative to the meeting start, as players expect, and always valid (`_cues`).
Pure string building, no I/O: a 3-hour meeting of 2,000 utterances takes milliseconds.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone, tzinfo
from typing import Callable, Iterator, Union

from roomscribe.core.records import Utterance, iso_utc
from roomscribe.outputs.archive.meetings import Meeting, MeetingRecord, Pause

FORMATS = ("txt", "md", "jsonl", "vtt", "srt")
EPOCH_NOTE = "speaker labels restart: new speech session"

Item = Union[Utterance, Pause, int]  # an int is the speaker epoch that begins here


def export(record: MeetingRecord, fmt: str, tz: tzinfo = timezone.utc) -> str:
    """The meeting in format `fmt` (one of FORMATS), times in `tz` where times are wall-clock."""
    try:
        writer = _WRITERS[fmt]
    except KeyError:
        raise ValueError(f"unknown format {fmt!r}; one of {', '.join(FORMATS)}") from None
    return writer(record, tz)


def timeline(record: MeetingRecord) -> Iterator[Item]:
    """Utterances in seq order; a pause before the first utterance that started after it began; the
    new epoch before the first utterance of a speaker epoch other than the previous one."""
    pauses = list(record.pauses)
    epoch = record.utterances[0].speaker_epoch if record.utterances else None
    for u in record.utterances:
        while pauses and pauses[0].start <= u.start:
            yield pauses.pop(0)
        if u.speaker_epoch != epoch:
            epoch = u.speaker_epoch
            yield u.speaker_epoch
        yield u
    yield from pauses


# -- shared wording ------------------------------------------------------------------------------------


def duration_text(seconds: float) -> str:
    total = max(0, int(round(seconds)))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes} min {secs} s"
    if minutes:
        return f"{minutes} min {secs} s"
    return f"{secs} s"


def zone_name(tz: tzinfo, at: float) -> str:
    """"UTC", or the zone's abbreviation and offset at that moment: "CET (UTC+01:00)"."""
    if tz is timezone.utc:
        return "UTC"
    moment = datetime.fromtimestamp(at, tz)
    offset = moment.strftime("%z")
    numeric = f"UTC{offset[:3]}:{offset[3:5]}"
    name = moment.tzname() or ""
    return f"{name} ({numeric})" if name[:1].isalpha() and not name.startswith("UTC") else numeric


def _clock(tz: tzinfo) -> Callable[[float], str]:
    def hhmmss(at: float) -> str:
        return datetime.fromtimestamp(at, tz).strftime("%H:%M:%S")

    return hhmmss


def who(u: Utterance) -> str:
    """The speaker of a line: the name given to the voice, else its label."""
    return u.speaker_name or u.speaker


def _speakers_text(meeting: Meeting) -> str:
    by_epoch: dict[int, list[str]] = {}
    for epoch, label in meeting.speakers:
        name = meeting.name_of(epoch, label)
        by_epoch.setdefault(epoch, []).append(f"{name} ({label})" if name else label)
    parts = []
    for index, (epoch, labels) in enumerate(by_epoch.items()):
        names = ", ".join(labels)
        parts.append(names if index == 0 else f"from speaker epoch {epoch} (labels restart): {names}")
    return "; ".join(parts) or "none"


def _span_text(meeting: Meeting, tz: tzinfo) -> tuple[str, str, str]:
    """(date, "09:30:00 – 10:42:13 UTC", "1 h 12 min 13 s, paused 2 min 0 s")."""
    start = datetime.fromtimestamp(meeting.start, tz)
    zone = zone_name(tz, meeting.start)
    if meeting.end is None:
        span = f"{start:%H:%M:%S} – (running) {zone}"
        length = "running"
    else:
        end = datetime.fromtimestamp(meeting.end, tz)
        end_text = f"{end:%H:%M:%S}" if end.date() == start.date() else f"{end:%Y-%m-%d %H:%M:%S}"
        span = f"{start:%H:%M:%S} – {end_text} {zone}"
        length = duration_text(meeting.end - meeting.start)
    if meeting.paused_seconds:
        length += f", paused {duration_text(meeting.paused_seconds)}"
    return f"{start:%Y-%m-%d}", span, length


def _pause_text(pause: Pause, clock: Callable[[float], str]) -> str:
    if pause.end is None:
        return f"paused at {clock(pause.start)} (still paused)"
    return f"paused {clock(pause.start)} – {clock(pause.end)} ({duration_text(pause.end - pause.start)})"


def _languages(record: MeetingRecord) -> list[str]:
    """A mixed meeting's languages in order of first use, each line then showing its own; none for one."""
    found = list(dict.fromkeys(u.language for u in record.utterances))
    return found if len(found) > 1 else []


def _one_line(text: str) -> str:
    return " ".join(text.split()) if ("\n" in text or "\r" in text) else text


# -- txt -------------------------------------------------------------------------------------------


def to_txt(record: MeetingRecord, tz: tzinfo = timezone.utc) -> str:
    m, clock, languages = record.meeting, _clock(tz), _languages(record)
    date, span, length = _span_text(m, tz)
    lines = [
        f"Meeting {m.id} in {m.room}",
        f"{date} {span} ({length})",
        f"Speakers: {_speakers_text(m)}" + (f"; languages: {', '.join(languages)}" if languages else ""),
        "",
    ]
    for item in timeline(record):
        if isinstance(item, Utterance):
            speaker = f"{who(item)} ({item.language})" if languages else who(item)
            lines.append(f"[{clock(item.start)}] {_one_line(speaker)}: {_one_line(item.text)}")
        elif isinstance(item, Pause):
            lines.append(f"--- {_pause_text(item, clock)} ---")
        else:
            lines.append(f"=== {EPOCH_NOTE} (epoch {item}); the Guest numbers below are new ===")
    return "\n".join(lines) + "\n"


# -- md --------------------------------------------------------------------------------------------

_MD_SPECIAL = {c: "\\" + c for c in "\\`*_[]<>|~&#!"}
_MD_TABLE = str.maketrans(_MD_SPECIAL)


def md_escape(text: str) -> str:
    """Escape what CommonMark could read as markup inside a line (all of it is ASCII punctuation)."""
    return _one_line(text).translate(_MD_TABLE)


def to_md(record: MeetingRecord, tz: tzinfo = timezone.utc) -> str:
    m, clock, languages = record.meeting, _clock(tz), _languages(record)
    date, span, length = _span_text(m, tz)
    room = md_escape(m.room)
    lines = [
        f"# Meeting minutes: {room}, {date}",
        "",
        f"- **Room:** {room}",
        f"- **Date:** {date}",
        f"- **Time:** {span}",
        f"- **Duration:** {length}",
        f"- **Speakers:** {md_escape(_speakers_text(m))}",
        *([f"- **Languages:** {md_escape(', '.join(languages))}"] if languages else []),
        f"- **Utterances:** {m.utterances}",
        f"- **Meeting id:** `{m.id.replace('`', '')}`",
        "",
        "## Transcript",
        "",
    ]
    for item in timeline(record):
        if isinstance(item, Utterance):
            speaker = f"{who(item)} ({item.language})" if languages else who(item)
            lines.append(f"**{clock(item.start)} {md_escape(speaker)}:** {md_escape(item.text)}")
        elif isinstance(item, Pause):
            lines.append(f"*⏸ {_pause_text(item, clock).capitalize()}; nothing was recorded.*")
        else:
            lines.append(f"> **Speaker labels restart here** (new speech session, epoch {item}): "
                         "the Guest numbers below are not those above.")
        lines.append("")
    return "\n".join(lines)


# -- jsonl -----------------------------------------------------------------------------------------


def to_jsonl(record: MeetingRecord, tz: tzinfo = timezone.utc) -> str:
    """One JSON object per line: the meeting, then pauses, speaker epochs and utterances in order.

    An utterance line holds the MQTT transcript's fields (without event_type); times are UTC.
    """
    dump = lambda obj: json.dumps(obj, ensure_ascii=False, separators=(",", ":"))  # noqa: E731
    first_at = dict(record.epochs)
    lines = [dump({"record": "meeting", **record.meeting.to_json()})]
    if record.utterances:  # the first epoch, so every utterance's epoch has its line
        epoch = record.utterances[0].speaker_epoch
        lines.append(dump({"record": "speaker_epoch", "speaker_epoch": epoch,
                           "start": iso_utc(first_at.get(epoch, record.utterances[0].start))}))
    for item in timeline(record):
        if isinstance(item, Utterance):
            payload = item.to_payload()
            del payload["event_type"]
            lines.append(dump({"record": "utterance", **payload}))
        elif isinstance(item, Pause):
            lines.append(dump({"record": "pause", "meeting_id": record.meeting.id, "start": iso_utc(item.start),
                               "end": iso_utc(item.end) if item.end is not None else None}))
        else:
            lines.append(dump({"record": "speaker_epoch", "speaker_epoch": item,
                               "start": iso_utc(first_at.get(item, 0.0))}))
    return "\n".join(lines) + "\n"


# -- WebVTT and SRT ------------------------------------------------------------------------------------

MARKER_S = 2.0  # how long an epoch marker cue shows
MIN_CUE_MS = 100  # no cue is shorter: a zero-length cue shows nothing, and some players drop it
HEARD_SLACK_S = 1.0  # an utterance's wall-clock span may exceed what the service heard by this much


def _cue_time(millis: int, separator: str) -> str:
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    return f"{hours:02d}:{minutes:02d}:{rest // 1000:02d}{separator}{rest % 1000:03d}"


def _cues(record: MeetingRecord) -> Iterator[tuple[str, int, int, Item]]:
    """(kind, start, end, item) in milliseconds from the meeting start, valid whatever the wall clock did:
    no cue starts before 0, before the cue before it or after the meeting's end (while it runs, the latest
    time recorded); none is shorter than MIN_CUE_MS, and an utterance lasts what the service heard
    (`duration_ms`) when its wall-clock span is longer than that by more than HEARD_SLACK_S."""
    origin, horizon = record.meeting.start, record.meeting.end
    if horizon is None:
        horizon = max([origin] + [u.end for u in record.utterances] + [p.end or p.start for p in record.pauses])
    length, floor = max(0, round((horizon - origin) * 1000)), 0

    def cue(start_s: float, end_s: float) -> tuple[int, int]:
        nonlocal floor
        floor = start = min(max(round(start_s * 1000), floor), length)
        return start, max(min(round(end_s * 1000), length), start + MIN_CUE_MS)

    for item in timeline(record):
        if isinstance(item, Utterance):
            start, span, heard = item.start - origin, item.end - item.start, item.duration_ms / 1000
            yield ("utterance", *cue(start, start + (span if 0 < span <= heard + HEARD_SLACK_S else heard)), item)
        elif isinstance(item, Pause):
            yield ("pause", *cue(item.start - origin, (item.end if item.end is not None else horizon) - origin), item)
        else:
            first = next(u for u in record.utterances if u.speaker_epoch == item).start - origin
            yield ("epoch", *cue(first, first + MARKER_S), item)


def _vtt_escape(text: str) -> str:
    return _one_line(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def to_vtt(record: MeetingRecord, tz: tzinfo = timezone.utc) -> str:
    m = record.meeting
    date, span, length = _span_text(m, tz)
    header = (f"NOTE\nMeeting {m.id} in {m.room}, {date} {span} ({length}).\n"
              "Cue times are relative to the meeting start.")
    blocks = ["WEBVTT", header.replace("-->", "->")]
    pauses, languages = 0, _languages(record)
    for _, start, end, item in _cues(record):
        times = f"{_cue_time(start, '.')} --> {_cue_time(end, '.')}"
        if isinstance(item, Utterance):
            text = _vtt_escape(item.text)
            text = f"<lang {_vtt_escape(item.language)}>{text}</lang>" if languages else text  # WebVTT's span
            blocks.append(f"{item.seq}\n{times}\n<v {_vtt_escape(who(item))}>{text}")
        elif isinstance(item, Pause):
            pauses += 1
            blocks.append(f"pause-{pauses}\n{times}\n[paused {_pause_length(item)}]")
        else:
            blocks.append(f"epoch-{item}\n{times}\n[{EPOCH_NOTE} (epoch {item})]")
    return "\n\n".join(blocks) + "\n"


def to_srt(record: MeetingRecord, tz: tzinfo = timezone.utc) -> str:
    blocks, languages = [], _languages(record)
    for index, (_, start, end, item) in enumerate(_cues(record), start=1):
        times = f"{_cue_time(start, ',')} --> {_cue_time(end, ',')}"
        if isinstance(item, Utterance):
            speaker = f"{who(item)} ({item.language})" if languages else who(item)
            text = f"{_one_line(speaker)}: {_one_line(item.text)}"
        elif isinstance(item, Pause):
            text = f"[paused {_pause_length(item)}]"
        else:
            text = f"[{EPOCH_NOTE} (epoch {item})]"
        blocks.append(f"{index}\n{times}\n{text}\n\n")
    return "".join(blocks)


def _pause_length(pause: Pause) -> str:
    return duration_text(pause.end - pause.start) if pause.end is not None else "(still paused)"


_WRITERS: dict[str, Callable[[MeetingRecord, tzinfo], str]] = {
    "txt": to_txt, "md": to_md, "jsonl": to_jsonl, "vtt": to_vtt, "srt": to_srt,
}
