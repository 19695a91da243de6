"""Writes a state directory as roomscribe at 5545b0b (before the journal) left it: the fixture of
test_journal_migration.py. Run with that version's package first on the path:

    git archive 5545b0b | tar -x -C /tmp/rs-main
    PYTHONPATH=/tmp/rs-main/daemon python tests/outputs/journal/data/make_main_state.py tests/outputs/journal/data/main-5545b0b

It uses that version's own writers (ArchiveWriter through ArchiveOutput, as its daemon did, and the
Outbox), then dies by SIGKILL, as a daemon on a device does at a power cut: the WAL files stay behind,
with commits not yet in the main files. expected.json says what the journal must hold afterwards.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path

from roomscribe.core.records import Event, StateMessage, Utterance
from roomscribe.outputs.archive.output import ArchiveOutput
from roomscribe.outputs.archive.writer import ArchiveWriter
from roomscribe.outputs.mqtt.outbox import Outbox

ROOM = "boardroom"
T0 = 1_795_426_200.0  # 2026-11-23 09:30:00 UTC


def utterance(meeting_id: str, seq: int, at: float, epoch: int = 1) -> Utterance:
    return Utterance(meeting_id, seq, f"Guest-{seq % 2 + 1}", epoch, f"{meeting_id} line {seq}: Zähler ✓ <b>",
                     at, at + 2.25, int((at - T0) * 1000), 2250, "en-US", ROOM)


def main(target: Path) -> None:
    target.mkdir(parents=True, exist_ok=True)
    writer = ArchiveWriter(target / "archive.sqlite3", retention_days=None).start()
    archive = ArchiveOutput(writer, ROOM)
    outbox = Outbox(target / "outbox.sqlite3")
    expected = {"meetings": {}, "waiting": []}

    def state(name: str, meeting_id: str | None, at: float) -> None:
        archive.publish_state(StateMessage(name, at, meeting_id, 1, None, name, ROOM))

    def said(u: Utterance, delivered: bool) -> None:
        archive.store_transcript(u).result(10)  # stored before published, as its fan-out did
        stored = outbox.put(u)
        if delivered:
            outbox.mark_delivered(stored.row_id)
        else:
            expected["waiting"].append([u.meeting_id, u.seq])
        expected["meetings"].setdefault(u.meeting_id, []).append(u.to_payload())

    # A meeting that ended, with a pause and a new speaker epoch: every utterance delivered.
    archive.publish_event(Event("meeting_started", {"meeting_id": "m-ended"}, T0, ROOM))
    for seq in range(1, 7):
        at = T0 + seq * 5 + (120 if seq > 3 else 0)
        if seq == 4:
            state("paused", "m-ended", T0 + 18)
            state("transcribing", "m-ended", T0 + 138)
            archive.publish_event(Event("speaker_epoch_changed", {"meeting_id": "m-ended", "previous": 1,
                                                                  "speaker_epoch": 2}, T0 + 139, ROOM))
        said(utterance("m-ended", seq, at, 1 if seq < 4 else 2), delivered=True)
    archive.publish_event(Event("meeting_ended", {"meeting_id": "m-ended", "audio_sent_s": 33.5, "duration_s": 180},
                                T0 + 180, ROOM))
    # The next meeting: the broker went away after its second utterance; the daemon is killed mid-meeting.
    archive.publish_event(Event("meeting_started", {"meeting_id": "m-killed"}, T0 + 3600, ROOM))
    for seq in range(1, 6):
        said(utterance("m-killed", seq, T0 + 3600 + seq * 5), delivered=seq <= 2)
    writer.submit(lambda store: None).result(10)  # the archive's last commit is durable
    os.write(1, json.dumps(expected, indent=1).encode() + b"\n")
    (target / "expected.json").write_text(json.dumps(expected, indent=1, ensure_ascii=False) + "\n")
    os.kill(os.getpid(), signal.SIGKILL)  # no close, no checkpoint: as at a power cut


if __name__ == "__main__":
    main(Path(sys.argv[1]))
