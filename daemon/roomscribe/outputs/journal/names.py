"""Writing the names given to voices (core/names.py): the running meeting's, as the owner decided them, and
a past meeting's, which the journal decides itself.

Functions of a connection, run inside the caller's transaction: the writer's (writer.py) for the daemon,
`roomscribe name`'s own when no daemon holds the journal (outputs/archive/naming.py). They never raise
for a refusal (the writer would take an exception for a failing disk): a refusal is a result.
"""

from __future__ import annotations

import sqlite3

from roomscribe.core.names import IsRunning, Named, NamingRefused, NamingResult, SpeakerNaming, unknown_speaker
from roomscribe.outputs.archive.meetings import AmbiguousMeeting, UnknownMeeting
from roomscribe.outputs.journal import queries


def set_names(db: sqlite3.Connection, meeting_id: str, speakers: tuple[tuple[int, str, str | None], ...],
              at: float) -> None:
    """The running meeting's names are these (the owner's map, whole): a name not in it is taken away."""
    if not db.execute("SELECT 1 FROM meetings WHERE id = ?", (meeting_id,)).fetchone():
        return  # not started here (the record switched on mid-meeting): its first utterance starts it
    named = [(epoch, label, name) for epoch, label, name in speakers if name is not None]
    old = {(epoch, label): name for (epoch, label), name in queries.names(db, meeting_id).items()}
    if old == {(epoch, label): name for epoch, label, name in named}:
        return
    db.execute("DELETE FROM speaker_names WHERE meeting_id = ?", (meeting_id,))
    db.executemany("INSERT INTO speaker_names (meeting_id, speaker_epoch, speaker, name, named_at) "
                   "VALUES (?, ?, ?, ?, ?)", [(meeting_id, epoch, label, name, at) for epoch, label, name in named])


def name_in_record(db: sqlite3.Connection, naming: SpeakerNaming, running: str | None, at: float) -> NamingResult:
    """Name a voice of a meeting in the record: resolved (current, last, an id or a prefix), the label checked
    against the utterances of that speaker epoch (default: the meeting's last epoch). The meeting the owner is
    running (`running`) is not named here: IsRunning says so, and the owner names it."""
    try:
        meeting_id = queries.resolve(db, naming.meeting_id or "current")
    except (UnknownMeeting, AmbiguousMeeting) as exc:
        return NamingRefused(f"unknown meeting: {exc}" if isinstance(exc, UnknownMeeting) else str(exc))
    if meeting_id == running:
        return IsRunning(meeting_id)
    epochs = [row[0] for row in db.execute(
        "SELECT DISTINCT speaker_epoch FROM utterances WHERE meeting_id = ? ORDER BY speaker_epoch", (meeting_id,))]
    epoch = naming.speaker_epoch if naming.speaker_epoch is not None else (epochs[-1] if epochs else 1)
    heard = queries.heard(db, meeting_id)
    if (epoch, naming.speaker) not in heard:
        return unknown_speaker(naming.speaker, epoch, [e for e, label in heard if label == naming.speaker])
    given = queries.names(db, meeting_id)
    previous = given.get((epoch, naming.speaker))
    if naming.name is None:
        db.execute("DELETE FROM speaker_names WHERE meeting_id = ? AND speaker_epoch = ? AND speaker = ?",
                   (meeting_id, epoch, naming.speaker))
        given.pop((epoch, naming.speaker), None)
    else:
        db.execute("INSERT INTO speaker_names (meeting_id, speaker_epoch, speaker, name, named_at) VALUES "
                   "(?, ?, ?, ?, ?) ON CONFLICT (meeting_id, speaker_epoch, speaker) DO UPDATE SET "
                   "name = excluded.name, named_at = excluded.named_at",
                   (meeting_id, epoch, naming.speaker, naming.name, at))
        given[(epoch, naming.speaker)] = naming.name
    return Named(meeting_id, epoch, naming.speaker, naming.name, previous,
                 tuple((e, label, given.get((e, label))) for e, label in heard), running=False)
