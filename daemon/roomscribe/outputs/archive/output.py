"""The archive as one of the owner's outputs (outputs/base.py `Output`, outputs/fanout.py `StoringOutput`).

It derives what the archive keeps from the records every output gets, so the owner tells it nothing
extra: `meeting_started`, `speaker_epoch_changed` and `meeting_ended` events (the last with the
`audio_sent_s` the meeting cost), the state entering and leaving `paused` (the pause's start and end,
its `since`), and each final utterance, which `store_transcript` hands to the writer; the fan-out
publishes it elsewhere once the returned future says it is durable. Every call only queues for the
writer's thread (outputs/archive/writer.py): nothing here touches the disk on the owner's loop.
"""

from __future__ import annotations

import logging
from concurrent.futures import Future
from typing import Callable

from roomscribe.core.records import Event, Partial, StateMessage, Utterance
from roomscribe.outputs.archive.meetings import Meeting
from roomscribe.outputs.archive.store import ArchiveStore
from roomscribe.outputs.archive.writer import ArchiveWriter

log = logging.getLogger(__name__)

PAUSED = "paused"  # core.table.State.PAUSED's value, as the state record carries it


class ArchiveOutput:
    def __init__(self, writer: ArchiveWriter, room: str, *,
                 on_meeting_ended: Callable[[Meeting], None] | None = None):
        """`on_meeting_ended`: called on the writer's thread with the ended meeting, once it is durable."""
        self.writer = writer
        self._room = room
        self._on_meeting_ended = on_meeting_ended
        self._paused: str | None = None  # the meeting whose pause is open

    # -- Output --------------------------------------------------------------------------------

    def start(self) -> None:
        self.writer.end_unfinished(self._room)  # meetings a killed daemon left open end at their last moment

    def stop(self) -> None:
        self.writer.close()  # drains: every future handed out is done when this returns

    def publish_state(self, msg: StateMessage) -> None:
        if msg.state == PAUSED and self._paused is None and msg.meeting_id:
            self._paused = msg.meeting_id
            self.writer.pause_started(msg.meeting_id, msg.since)
        elif msg.state != PAUSED and self._paused is not None:
            self.writer.pause_ended(self._paused, msg.since)
            self._paused = None

    def publish_event(self, event: Event) -> None:
        detail = event.detail if isinstance(event.detail, dict) else {}
        meeting_id = detail.get("meeting_id")
        if not meeting_id:
            return
        if event.kind == "meeting_started":
            self.writer.meeting_started(meeting_id, self._room, event.at, 1)  # the first session is epoch 1
        elif event.kind == "speaker_epoch_changed" and isinstance(detail.get("speaker_epoch"), int):
            self.writer.speaker_epoch(meeting_id, detail["speaker_epoch"], event.at)
        elif event.kind == "meeting_ended":
            if isinstance(detail.get("audio_sent_s"), (int, float)):
                self.writer.audio_seconds(meeting_id, float(detail["audio_sent_s"]))
            self.writer.meeting_ended(meeting_id, event.at)
            if self._paused == meeting_id:
                self._paused = None
            if self._on_meeting_ended is not None:
                self.writer.submit(_read_meeting, meeting_id).add_done_callback(self._ended)

    def publish_partial(self, partial: Partial) -> None:
        pass  # partials are replaced by the final: never kept

    def publish_stats(self, stats) -> None:
        pass  # a meeting's audio seconds come with its `meeting_ended` event

    def set_speech_connected(self, connected: bool | str) -> None:
        pass

    def submit_transcript(self, utt: Utterance) -> None:
        self.store_transcript(utt)

    # -- StoringOutput -------------------------------------------------------------------------

    def store_transcript(self, utt: Utterance) -> Future:
        return self.writer.utterance(utt)

    def _ended(self, future: Future) -> None:
        if future.cancelled() or future.exception() is not None or future.result() is None:
            return
        try:
            self._on_meeting_ended(future.result())
        except Exception:  # noqa: BLE001  (on the writer's thread: never let it die)
            log.exception("archive: the meeting summary could not be handed on")


def _read_meeting(store: ArchiveStore, meeting_id: str) -> Meeting | None:
    return store.meeting(meeting_id)
