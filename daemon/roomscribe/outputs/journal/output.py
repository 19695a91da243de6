"""The journal as one of the owner's outputs (outputs/base.py `Output`).

It derives what the journal records from the records every output gets, so the owner tells it nothing
extra: `meeting_started`, `speaker_epoch_changed`, `audio_lost`, `clock_stepped` and `meeting_ended`
events (the last with what the meeting cost, `audio_sent_s`, and its paused time, `paused_s`, when it
carries them), the state entering and leaving `paused` (the pause's start and end: its `since`), and
each final utterance, and the running meeting's names (`publish_speakers`). Every call only queues
for the writer's thread: nothing here touches the disk on the owner's loop. The MQTT link gets
state, events and partials straight from the fan-out, and the utterances from the journal once they
are stored.

It is also the owner's way to the record of past meetings (`name_speaker`, outputs/base.py
`SpeakerRecord`): naming a voice of a meeting that is not running is decided on the writer's thread,
in the transaction that writes it.
"""

from __future__ import annotations

import logging
from concurrent.futures import Future
from typing import Callable

from roomscribe.core.names import NamingRefused, SpeakerNaming
from roomscribe.core.records import Event, Partial, SpeakerMap, StateMessage, Utterance
from roomscribe.outputs.archive.meetings import Meeting
from roomscribe.outputs.journal import names, queries, writes
from roomscribe.outputs.journal.journal import Journal

log = logging.getLogger(__name__)

PAUSED = "paused"  # core.table.State.PAUSED's value, as the state record carries it


class JournalOutput:
    def __init__(self, journal: Journal, room: str, *, on_meeting_ended: Callable[[Meeting], None] | None = None):
        """`on_meeting_ended`: called on the writer's thread with the ended meeting once its end is stored,
        only when the record is kept (archive.enabled)."""
        self.journal = journal
        self._writer = journal.writer
        self._room = room
        self._on_meeting_ended = on_meeting_ended if journal.policy.keep_record else None
        self._paused: str | None = None  # the meeting whose pause is open

    # -- Output --------------------------------------------------------------------------------

    def start(self) -> None:
        self.journal.start()
        self._writer.submit(writes.end_unfinished, self._room)  # meetings a killed daemon left open

    def flush(self) -> None:
        """Everything handed over so far is committed (or held): before the link's last delivery."""
        self.journal.flush()

    def stop(self) -> None:
        self.journal.close()  # commits what is queued and the last acknowledgements

    def publish_state(self, msg: StateMessage) -> None:
        if msg.state == PAUSED and self._paused is None and msg.meeting_id:
            self._paused = msg.meeting_id
            self._writer.submit(writes.pause_started, msg.meeting_id, msg.since)
        elif msg.state != PAUSED and self._paused is not None:
            self._writer.submit(writes.pause_ended, self._paused, msg.since)
            self._paused = None

    def publish_event(self, event: Event) -> None:
        detail = event.detail if isinstance(event.detail, dict) else {}
        meeting_id = detail.get("meeting_id")
        if not meeting_id or not isinstance(meeting_id, str):
            return
        if event.kind == "meeting_started":
            self._writer.submit(writes.meeting_started, meeting_id, self._room, event.at, 1)  # first session: 1
        elif event.kind == "speaker_epoch_changed" and _number(detail.get("speaker_epoch"), int):
            self._writer.submit(writes.speaker_epoch, meeting_id, detail["speaker_epoch"], event.at)
        elif event.kind == "audio_lost" and all(_number(detail.get(k)) for k in ("start", "end", "seconds")):
            self._writer.submit(writes.audio_lost, meeting_id, float(detail["start"]), float(detail["end"]),
                                float(detail["seconds"]), str(detail.get("reason", "")))
        elif event.kind == "clock_stepped" and _number(detail.get("step_s")):
            self._writer.submit(writes.clock_stepped, meeting_id, float(detail["step_s"]))
        elif event.kind == "meeting_ended":
            self._meeting_ended(meeting_id, event, detail)

    def _meeting_ended(self, meeting_id: str, event: Event, detail: dict) -> None:
        if _number(detail.get("audio_sent_s")):
            self._writer.submit(writes.audio_seconds, meeting_id, float(detail["audio_sent_s"]))
        paused_s = float(detail["paused_s"]) if _number(detail.get("paused_s")) else None
        self._writer.submit(writes.meeting_ended, meeting_id, event.at, paused_s)
        if self._paused == meeting_id:
            self._paused = None
        if self._on_meeting_ended is not None:
            clock = self.journal.reporter.clock
            self._writer.submit(lambda db: queries.meeting(db, meeting_id, clock())).add_done_callback(self._ended)

    def publish_partial(self, partial: Partial) -> None:
        pass  # partials are replaced by the final: never kept

    def publish_stats(self, stats) -> None:
        pass  # a meeting's audio seconds come with its `meeting_ended` event

    def set_speech_connected(self, value: str) -> None:
        pass

    def submit_transcript(self, utt: Utterance) -> None:
        self._writer.utterance(utt)

    def publish_speakers(self, speakers: SpeakerMap) -> None:
        """The running meeting's names, as the owner decided them (a past meeting's are written by name_speaker)."""
        if speakers.running and speakers.meeting_id:
            clock = self.journal.reporter.clock
            self._writer.submit(lambda db: names.set_names(db, speakers.meeting_id, speakers.speakers, clock()))

    def name_speaker(self, naming: SpeakerNaming, running: str | None) -> Future:
        """Name a voice of a meeting in the record; the future's result is a core.names NamingResult (after
        the commit that stored it). Refused at once when the record is off or the disk refuses writes."""
        if not self.journal.policy.keep_record:
            return _done(NamingRefused("the record of past meetings is switched off on this device "
                                       "(archive.enabled: false)"))
        if not self.journal.health.ok:
            return _done(NamingRefused(f"the journal cannot store anything now ({self.journal.health.detail}); "
                                       "name past meetings once it can"))
        clock = self.journal.reporter.clock
        return self._writer.submit(lambda db: names.name_in_record(db, naming, running, clock()))

    def _ended(self, future: Future) -> None:
        if future.cancelled() or future.exception() is not None or future.result() is None:
            return
        try:
            self._on_meeting_ended(future.result())
        except Exception:  # noqa: BLE001  (on the writer's thread: never let it die)
            log.exception("journal: the meeting summary could not be handed on")


def _done(result) -> Future:
    future: Future = Future()
    future.set_result(result)
    return future


def _number(value, kind=(int, float)) -> bool:
    return isinstance(value, kind) and not isinstance(value, bool)
