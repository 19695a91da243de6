"""Writes a journal as roomscribe at c644321 (journal schema 1, before speaker names) left it: the fixture of
test_journal_schema.py's upgrade test. Run with that version's package first on the path:

    git archive c644321 | tar -x -C /tmp/rs-v1
    PYTHONPATH=/tmp/rs-v1/daemon python tests/outputs/journal/data/make_v1_journal.py tests/outputs/journal/data/journal-v1

It uses that version's own writer through its JournalOutput, as its daemon did: a meeting that ended (a
pause, a new speaker epoch, every utterance delivered), then one that runs when the process dies by
SIGKILL, its last utterances not yet acknowledged by the broker: the WAL stays behind, with commits not yet
in the main file. expected.json says what the journal holds.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path

from roomscribe.core.records import Event, StateMessage, Utterance
from roomscribe.outputs.journal.journal import Journal
from roomscribe.outputs.journal.output import JournalOutput

ROOM = "boardroom"
T0 = 1_795_426_200.0  # 2026-11-23 09:30:00 UTC


def utterance(meeting_id: str, seq: int, at: float, epoch: int = 1) -> Utterance:
    return Utterance(meeting_id, seq, f"Guest-{seq % 2 + 1}", epoch, f"{meeting_id} line {seq}: Zähler ✓ <b>",
                     at, at + 2.25, int((at - T0) * 1000), 2250, "en-US", ROOM)


def main(target: Path) -> None:
    target.mkdir(parents=True, exist_ok=True)
    journal = Journal(target / "journal.sqlite3", room=ROOM)
    output = JournalOutput(journal, ROOM)
    output.start()
    expected = {"meetings": {}, "waiting": []}

    def state(name: str, meeting_id: str | None, at: float) -> None:
        output.publish_state(StateMessage(name, at, meeting_id, 1, None, name, ROOM))

    def said(u: Utterance, delivered: bool) -> None:
        output.submit_transcript(u)
        assert journal.flush(10)
        if delivered:
            [pending] = [p for p in journal.deliveries.pending(limit=1000)
                         if (p.meeting_id, p.seq) == (u.meeting_id, u.seq)]
            journal.deliveries.mark_delivered(pending.row_id)
        else:
            expected["waiting"].append([u.meeting_id, u.seq])
        expected["meetings"].setdefault(u.meeting_id, []).append(u.to_payload())

    output.publish_event(Event("meeting_started", {"meeting_id": "m-ended"}, T0, ROOM))
    for seq in range(1, 7):
        at = T0 + seq * 5 + (120 if seq > 3 else 0)
        if seq == 4:
            state("paused", "m-ended", T0 + 18)
            state("transcribing", "m-ended", T0 + 138)
            output.publish_event(Event("speaker_epoch_changed", {"meeting_id": "m-ended", "previous": 1,
                                                                 "speaker_epoch": 2}, T0 + 139, ROOM))
        said(utterance("m-ended", seq, at, 1 if seq < 4 else 2), delivered=True)
    output.publish_event(Event("meeting_ended", {"meeting_id": "m-ended", "audio_sent_s": 33.5, "duration_s": 180,
                                                 "paused_s": 120.0}, T0 + 180, ROOM))
    output.publish_event(Event("meeting_started", {"meeting_id": "m-killed"}, T0 + 3600, ROOM))
    for seq in range(1, 6):
        said(utterance("m-killed", seq, T0 + 3600 + seq * 5), delivered=seq <= 2)
    assert journal.flush(10)  # the acknowledgements wait for the next commit: one more, so they are durable
    journal.writer.submit(lambda db: None).result(10)
    (target / "expected.json").write_text(json.dumps(expected, indent=1, ensure_ascii=False) + "\n")
    os.kill(os.getpid(), signal.SIGKILL)  # no close, no checkpoint: as at a power cut


if __name__ == "__main__":
    main(Path(sys.argv[1]))
