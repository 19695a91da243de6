"""Test data for the record's tests: a meeting with pauses, a new speaker epoch and awkward text."""

from __future__ import annotations

from roomscribe.core.records import Utterance

ROOM = "boardroom"
T0 = 1_795_426_200.0  # 2026-11-23 09:30:00 UTC

AWKWARD = [
    "The numbers for March look fine.",
    "Costs are *up* by 3 % — <b>not</b> bold & not [a link](http://x) | pipe",
    "--> arrows --> and 1. lists\nacross a line break",
    "Zähler ✓, 東京, emoji 🎉",
    "# not a heading _nor_ `code` \\ backslash",
]


def utterance(meeting_id: str, seq: int, at: float, *, speaker: str | None = None, epoch: int = 1,
              text: str | None = None, room: str = ROOM) -> Utterance:
    return Utterance(
        meeting_id=meeting_id, seq=seq, speaker=speaker or f"Guest-{seq % 2 + 1}", speaker_epoch=epoch,
        text=text if text is not None else f"utterance number {seq}", start=at, end=at + 2.25,
        offset_ms=int((at - T0) * 1000), duration_ms=2250, language="en-US", room=room,
    )


def record_meeting(journal, meeting_id: str = "3f2a9c1e-6b1d-4c7e-9a55-0d6f4b8e2a10", start: float = T0,
                   n: int = 12, end: bool = True) -> list[Utterance]:
    """A meeting: n utterances 5 s apart, a pause after the 4th, a new speaker epoch from the 9th.

    `journal` is a tests.support.journal.JournalUnderTest (every call returns once committed).
    """
    journal.meeting_started(meeting_id, ROOM, start, 1)
    said = []
    at = start + 3.0
    for seq in range(1, n + 1):
        if seq == 5:
            journal.pause_started(meeting_id, at)
            at += 120.0
            journal.pause_ended(meeting_id, at)
        epoch = 1
        if seq >= 9:
            epoch = 2
            if seq == 9:
                journal.speaker_epoch(meeting_id, 2, at - 1.0)
        text = AWKWARD[seq % len(AWKWARD)] if seq <= len(AWKWARD) * 2 else None
        u = utterance(meeting_id, seq, at, epoch=epoch, text=text)
        journal.add_utterance(u)
        said.append(u)
        at += 5.0
    if end:
        journal.meeting_ended(meeting_id, at + 1.0)
    return said
