"""The model the meeting machine drives: its fields and the callbacks the transition table names.

Callbacks change the model's own fields and append effects (core/effects.py); nothing here does I/O
or reads a clock except through the `clock` the owner passes in.
"""

from __future__ import annotations

import uuid
from typing import Callable

from transitions import EventData

from roomscribe.core.backoff import Backoff
from roomscribe.core.commands import COMMANDS
from roomscribe.core.describe import describe
from roomscribe.core.effects import (
    CancelRelease,
    CancelRetry,
    CloseSession,
    DiscardBacklog,
    Effect,
    EmitEvent,
    GateClose,
    GateOpen,
    OpenSession,
    PublishState,
    ScheduleRelease,
    ScheduleRetry,
)
from roomscribe.core.table import COMPLETIONS, GATE_OPEN_STATES, AudioStatus, Session, State

S = State


class MeetingModel:
    """The model `transitions` drives: the machine's fields and its callbacks, private to MeetingMachine."""

    def __init__(self, *, release_after_s: float | None, backoff: Backoff, auth_retry_s: float,
                 clock: Callable[[], float], replace_stalled_s: float):
        self.release_after_s = release_after_s
        self.replace_stalled_s = replace_stalled_s
        self.backoff = backoff
        self.auth_retry_s = auth_retry_s
        self.clock = clock
        self.effects: list[Effect] = []
        self.meeting_id: str | None = None
        self.speaker_epoch = 0
        self.session = Session.NONE
        self.since = clock()
        self.detail = "no meeting"
        self.error_code: str | None = None
        self.request_id: str | None = None
        self.retry_pending = self.release_pending = self.released = self.lost_in_meeting = False
        self.epoch_heard = False  # the current speaker epoch's session answered at least once
        self.retry_delay, self.loss_reason = 0.0, ""
        self.state_before: State | None = None
        self.audio = AudioStatus.WAITING
        self.audio_detail = "the audio source has not reported yet"

    # conditions
    def retryable(self, event: EventData) -> bool:
        return bool(event.kwargs.get("retryable"))

    def session_alive(self, event: EventData) -> bool:
        return self.session is Session.ALIVE

    def session_opening(self, event: EventData) -> bool:
        return self.session is Session.OPENING

    def session_gone(self, event: EventData) -> bool:
        return self.session is Session.NONE

    def session_silent(self, event: EventData) -> bool:  # stalled: it answered before, not since
        return self.session is Session.STALLED

    def session_unanswered(self, event: EventData) -> bool:
        return self.session in (Session.OPENING, Session.STALLED)

    def has_session(self, event: EventData) -> bool:
        return self.session is not Session.NONE

    def has_audio(self, event: EventData) -> bool:
        return self.audio is AudioStatus.FLOWING

    def audio_was_flowing(self, event: EventData) -> bool:
        return event.kwargs.get("was") is AudioStatus.FLOWING

    # machine-wide callbacks
    def note_cause(self, event: EventData) -> None:
        self.state_before = self.state
        name = event.event.name
        if name in COMMANDS:
            self.request_id = event.kwargs.get("request_id")
        elif name not in COMPLETIONS:
            self.request_id = None

    def record_change(self, event: EventData) -> None:
        if self.state is not self.state_before:
            self.since = self.clock()
        self.detail = describe(self)
        self.effects.append(PublishState())

    # meeting
    def begin_meeting(self, event: EventData) -> None:
        self.meeting_id = uuid.uuid4().hex
        self.speaker_epoch = 0
        self.error_code = None
        self.lost_in_meeting = self.epoch_heard = False
        self.backoff.reset()
        self.effects.append(EmitEvent("meeting_started", {"meeting_id": self.meeting_id}))

    def end_meeting(self, event: EventData) -> None:
        ended = self.meeting_id
        self.meeting_id = None
        self.speaker_epoch = 0
        self.session = Session.NONE
        self.error_code = None
        self.released = self.epoch_heard = False
        self.effects += [EmitEvent("meeting_ended", {"meeting_id": ended}), DiscardBacklog(ended, "meeting_ended")]

    # cloud session
    def open_session(self, event: EventData) -> None:
        if self.session is Session.STALLED:
            self.effects.append(CloseSession(graceful=False))  # given up: a new connection may get through
        # A new diarization session (its Guest-N labels say nothing about the previous ones), so a new
        # epoch, unless the last one never answered: it labelled nobody.
        if self.speaker_epoch == 0 or self.epoch_heard:
            self.speaker_epoch += 1
            if self.speaker_epoch > 1:
                self.effects.append(EmitEvent("speaker_epoch_changed", {"meeting_id": self.meeting_id,
                                    "previous": self.speaker_epoch - 1, "speaker_epoch": self.speaker_epoch}))
        self.session = Session.OPENING
        self.released = False
        self.epoch_heard = False
        self.effects.append(OpenSession(self.speaker_epoch))

    def session_established(self, event: EventData) -> None:
        self.session = Session.ALIVE
        self.error_code = None
        self.epoch_heard = True
        self.backoff.reset()
        if self.lost_in_meeting:
            self.lost_in_meeting = False
            self.effects.append(EmitEvent("session_reestablished",
                                          {"meeting_id": self.meeting_id, "speaker_epoch": self.speaker_epoch}))

    def stall_session(self, event: EventData) -> None:
        self.session, self.error_code, self.lost_in_meeting = Session.STALLED, "Stalled", True
        unanswered = round(float(event.kwargs.get("unanswered_s", 0.0)), 1)
        self.loss_reason = f"no answer to speech for {unanswered:g} s"
        self.effects.append(EmitEvent("speech_stalled", {"meeting_id": self.meeting_id, "speaker_epoch": self.speaker_epoch,
                                                         "unanswered_s": unanswered}, level="warning"))

    def schedule_replacement(self, event: EventData) -> None:
        self._schedule_retry(self.replace_stalled_s)  # a new connection, if the stalled one stays silent

    def lose_session(self, event: EventData) -> None:
        code, reason = event.kwargs.get("code", "unknown"), event.kwargs.get("reason", "")
        self.cancel_release(event)  # nothing left to release
        self.session = Session.NONE
        self.error_code = code
        self.loss_reason = reason
        self.lost_in_meeting = True
        self.effects.append(EmitEvent("session_lost", {
            "meeting_id": self.meeting_id, "speaker_epoch": self.speaker_epoch, "code": code, "reason": reason,
            "retryable": bool(event.kwargs.get("retryable")),
        }, level="warning"))
        self.effects.append(CloseSession(graceful=False))  # free what is left of it

    def release_session(self, event: EventData) -> None:
        self.cancel_release(event)  # released early (idle closes): the timer has nothing left to do
        self.released = True
        self.finish_session(event)
        self.effects.append(EmitEvent("session_released", {
            "meeting_id": self.meeting_id, "speaker_epoch": self.speaker_epoch, "paused_for_s": self.release_after_s,
            "reason": event.kwargs.get("reason", "pause longer than release_after_minutes"),
        }))

    def finish_session(self, event: EventData) -> None:
        # Graceful only for a session that answers: waiting for one still connecting or stalled would only
        # delay the stop (what it was sent is reported lost). Emitted even without a session, because the
        # owner answers every CloseSession with session_stopped.
        graceful = self.session is Session.ALIVE
        self.session = Session.NONE
        self.effects.append(CloseSession(graceful=graceful))

    def discard_backlog(self, event: EventData) -> None:
        self.effects.append(DiscardBacklog(self.meeting_id, "service_refused"))

    # gate
    def open_gate(self, event: EventData) -> None:
        if self.state_before not in GATE_OPEN_STATES:
            self.effects.append(GateOpen())

    def end_phrase_now(self, event: EventData) -> None:
        # No more audio comes to end the phrase in flight: a tail now, and the gate stays open.
        self.effects += [GateClose(tail=True, at_once=True), GateOpen()]

    def close_gate_with_tail(self, event: EventData) -> None:
        self.effects.append(GateClose(tail=True))  # paced: a pause never runs the stream ahead of real time

    def close_gate_tail_now(self, event: EventData) -> None:
        self.effects.append(GateClose(tail=True, at_once=True))  # the session finishes now, or no more audio comes

    def close_gate_without_tail(self, event: EventData) -> None:
        self.effects.append(GateClose(tail=False))  # the session is gone: nothing left to finish

    # timers
    def schedule_retry(self, event: EventData) -> None:
        self._schedule_retry(self.backoff.next_delay())

    def schedule_auth_retry(self, event: EventData) -> None:
        self._schedule_retry(self.auth_retry_s)  # needs a person or time, never a hot loop

    def _schedule_retry(self, delay: float) -> None:
        self.retry_delay = delay
        self.retry_pending = True
        self.effects.append(ScheduleRetry(delay))

    def cancel_retry(self, event: EventData) -> None:
        if self.retry_pending:
            self.retry_pending = False
            self.effects.append(CancelRetry())

    def schedule_release(self, event: EventData) -> None:
        if self.release_after_s is not None and self.session is not Session.NONE:
            self.release_pending = True
            self.effects.append(ScheduleRelease(self.release_after_s))

    def cancel_release(self, event: EventData) -> None:
        if self.release_pending:
            self.release_pending = False
            self.effects.append(CancelRelease())
