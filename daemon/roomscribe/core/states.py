"""The meeting state machine: states and transitions as data, effects as values.

The machine only decides. Its callbacks change its own fields and append Effect objects; the owner
drains them and acts (opens the gate, starts a cloud session, arms a timer). No I/O and no clock reads
happen here except through the `clock` the owner passes in. docs/state-machine.md explains the
states, the transitions and why; a test keeps its diagram equal to `render_mermaid()`.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from enum import Enum
from typing import Callable, Union

from transitions import EventData, Machine

from roomscribe.core.backoff import Backoff

log = logging.getLogger(__name__)


class State(str, Enum):
    IDLE = "idle"
    STARTING = "starting"
    TRANSCRIBING = "transcribing"
    PAUSED = "paused"
    STOPPING = "stopping"
    RECOVERING = "recovering"
    FAILED = "failed"
    NO_AUDIO = "no_audio"


class AudioStatus(str, Enum):
    """The audio source as the machine knows it; `transcribing` needs FLOWING."""

    WAITING = "waiting"  # open (or opening), nothing delivered yet: a device can take seconds to start
    FLOWING = "flowing"  # chunks arrive
    LOST = "lost"  # missing, failed or silent; the source retries by itself
    ENDED = "ended"  # a file source played to its end


class Session(str, Enum):
    """The cloud session as the machine knows it."""

    NONE = "none"
    OPENING = "opening"
    ALIVE = "alive"


# -- effects: what the owner must do, in order ---------------------------------------------------


@dataclass(frozen=True)
class OpenSession:
    speaker_epoch: int


@dataclass(frozen=True)
class CloseSession:
    graceful: bool  # True: let the service finish what it was sent; False: it is already gone


@dataclass(frozen=True)
class GateOpen:
    pass


@dataclass(frozen=True)
class GateClose:
    tail: bool  # write the tail silence that makes the service close the phrase in flight
    at_once: bool = False  # the tail goes out now (a stop, a source that stopped), not paced in real time


@dataclass(frozen=True)
class ScheduleRetry:
    delay_s: float


@dataclass(frozen=True)
class CancelRetry:
    pass


@dataclass(frozen=True)
class ScheduleRelease:
    delay_s: float


@dataclass(frozen=True)
class CancelRelease:
    pass


@dataclass(frozen=True)
class PublishState:
    pass


@dataclass(frozen=True)
class EmitEvent:
    kind: str
    detail: dict
    level: str = "info"


Effect = Union[
    OpenSession, CloseSession, GateOpen, GateClose, ScheduleRetry, CancelRetry,
    ScheduleRelease, CancelRelease, PublishState, EmitEvent,
]


@dataclass(frozen=True)
class CommandResult:
    accepted: bool
    changed: bool
    reason: str | None  # why it was refused, or a note on an acknowledgement


# -- the machine as data -------------------------------------------------------------------------

COMMANDS = ("start", "stop", "pause", "resume")

S = State
MACHINE_STATES = [
    {"name": S.IDLE},
    {"name": S.STARTING},
    {"name": S.TRANSCRIBING, "on_enter": "open_gate"},  # the gate is open exactly while transcribing
    {"name": S.PAUSED, "on_enter": "schedule_release", "on_exit": "cancel_release"},
    {"name": S.STOPPING},
    {"name": S.RECOVERING, "on_exit": "cancel_retry"},
    {"name": S.FAILED, "on_exit": "cancel_retry"},
    {"name": S.NO_AUDIO},
]

# Effects of a transition: `before` runs before the state is left, `after` once the new one is entered.
# A transition without `dest` is internal: the state stays, no enter/exit callbacks run.
TRANSITIONS = [
    {"trigger": "start", "source": S.IDLE, "dest": S.STARTING, "after": ["begin_meeting", "open_session"]},
    {"trigger": "start", "source": [S.RECOVERING, S.FAILED], "dest": S.STARTING, "after": "open_session"},
    {"trigger": "session_ready", "source": S.STARTING, "dest": S.TRANSCRIBING, "conditions": "has_audio",
     "after": "session_established"},
    {"trigger": "session_ready", "source": S.STARTING, "dest": S.NO_AUDIO, "unless": "has_audio",
     "after": "session_established"},
    {"trigger": "session_ready", "source": S.PAUSED, "dest": None, "conditions": "session_opening",
     "after": "session_established"},
    {"trigger": "pause", "source": S.TRANSCRIBING, "dest": S.PAUSED, "before": "close_gate_with_tail"},
    {"trigger": "pause", "source": [S.STARTING, S.RECOVERING, S.FAILED, S.NO_AUDIO], "dest": S.PAUSED},
    {"trigger": "resume", "source": S.PAUSED, "dest": S.TRANSCRIBING, "conditions": ["session_alive", "has_audio"]},
    {"trigger": "resume", "source": S.PAUSED, "dest": S.NO_AUDIO, "conditions": "session_alive",
     "unless": "has_audio"},
    {"trigger": "resume", "source": S.PAUSED, "dest": S.STARTING, "conditions": "session_opening"},
    {"trigger": "resume", "source": S.PAUSED, "dest": S.STARTING, "conditions": "session_gone",
     "after": "open_session"},
    {"trigger": "session_lost", "source": S.STARTING, "dest": S.RECOVERING, "conditions": "retryable",
     "after": ["lose_session", "schedule_retry"]},
    {"trigger": "session_lost", "source": S.STARTING, "dest": S.FAILED, "unless": "retryable",
     "after": ["lose_session", "schedule_auth_retry"]},
    {"trigger": "session_lost", "source": S.TRANSCRIBING, "dest": S.RECOVERING, "conditions": "retryable",
     "before": "close_gate_without_tail", "after": ["lose_session", "schedule_retry"]},
    {"trigger": "session_lost", "source": S.TRANSCRIBING, "dest": S.FAILED, "unless": "retryable",
     "before": "close_gate_without_tail", "after": ["lose_session", "schedule_auth_retry"]},
    {"trigger": "session_lost", "source": S.NO_AUDIO, "dest": S.RECOVERING, "conditions": "retryable",
     "after": ["lose_session", "schedule_retry"]},
    {"trigger": "session_lost", "source": S.NO_AUDIO, "dest": S.FAILED, "unless": "retryable",
     "after": ["lose_session", "schedule_auth_retry"]},
    {"trigger": "session_lost", "source": S.PAUSED, "dest": None, "conditions": "has_session",
     "after": "lose_session"},
    {"trigger": "retry_due", "source": [S.RECOVERING, S.FAILED], "dest": S.STARTING, "after": "open_session"},
    {"trigger": "release_due", "source": [S.PAUSED, S.NO_AUDIO], "dest": None, "conditions": "has_session",
     "after": "release_session"},
    {"trigger": "audio_flowing", "source": S.NO_AUDIO, "dest": S.TRANSCRIBING, "conditions": "session_alive"},
    {"trigger": "audio_flowing", "source": S.NO_AUDIO, "dest": S.STARTING, "conditions": "session_gone",
     "after": "open_session"},
    {"trigger": "audio_stopped", "source": S.TRANSCRIBING, "dest": S.NO_AUDIO, "before": "close_gate_tail_now"},
    {"trigger": "stop", "source": S.TRANSCRIBING, "dest": S.STOPPING, "before": "close_gate_tail_now",
     "after": "finish_session"},
    {"trigger": "stop", "source": [S.STARTING, S.PAUSED, S.RECOVERING, S.FAILED, S.NO_AUDIO], "dest": S.STOPPING,
     "after": "finish_session"},
    {"trigger": "session_stopped", "source": S.STOPPING, "dest": S.IDLE, "after": "end_meeting"},
]

# Commands that ask for what is already true (or under way): accepted, nothing changes.
ACKNOWLEDGED: dict[str, dict[State, str]] = {
    "start": {S.STARTING: "already starting", S.TRANSCRIBING: "already transcribing",
              S.PAUSED: "the meeting is on, paused; send resume to transcribe",
              S.NO_AUDIO: "the meeting is on; waiting for audio from the source"},
    "stop": {S.IDLE: "no meeting in progress", S.STOPPING: "already stopping"},
    "pause": {S.PAUSED: "already paused"},
    "resume": {S.TRANSCRIBING: "already transcribing", S.STARTING: "not paused; the session is starting",
               S.RECOVERING: "not paused; the session is being restored",
               S.NO_AUDIO: "not paused; waiting for audio from the source"},
}

# Commands that make no sense in a state: refused with a reason for the person who sent them.
REFUSED: dict[str, dict[State, str]] = {
    "start": {S.STOPPING: "the previous meeting is still ending; send start again once idle"},
    "stop": {},
    "pause": {S.IDLE: "no meeting in progress: nothing is being transcribed",
              S.STOPPING: "the meeting is ending; no more audio is sent"},
    "resume": {S.IDLE: "no meeting in progress; send start",
               S.STOPPING: "the meeting is ending; send start once idle",
               S.FAILED: "not paused: the speech service refused the session; send start to retry now"},
}

# Follow-ups that complete a command keep its request_id; other service events clear it.
_COMPLETIONS = {"session_ready", "session_stopped", "audio_flowing"}


class _Meeting:
    """The model `transitions` drives: the machine's fields and its callbacks, private to MeetingMachine."""

    def __init__(self, *, release_after_s: float | None, backoff: Backoff, auth_retry_s: float,
                 clock: Callable[[], float]):
        self.release_after_s = release_after_s
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
        self.retry_pending = False
        self.release_pending = False
        self.released = False
        self.lost_in_meeting = False
        self.retry_delay = 0.0
        self.loss_reason = ""
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

    def has_session(self, event: EventData) -> bool:
        return self.session is not Session.NONE

    def has_audio(self, event: EventData) -> bool:
        return self.audio is AudioStatus.FLOWING

    # machine-wide callbacks
    def note_cause(self, event: EventData) -> None:
        self.state_before = self.state
        name = event.event.name
        if name in COMMANDS:
            self.request_id = event.kwargs.get("request_id")
        elif name not in _COMPLETIONS:
            self.request_id = None

    def record_change(self, event: EventData) -> None:
        if self.state is not self.state_before:
            self.since = self.clock()
        self.detail = self.describe()
        self.effects.append(PublishState())

    # meeting
    def begin_meeting(self, event: EventData) -> None:
        self.meeting_id = uuid.uuid4().hex
        self.speaker_epoch = 0
        self.error_code = None
        self.lost_in_meeting = False
        self.backoff.reset()
        self.effects.append(EmitEvent("meeting_started", {"meeting_id": self.meeting_id}))

    def end_meeting(self, event: EventData) -> None:
        ended = self.meeting_id
        self.meeting_id = None
        self.speaker_epoch = 0
        self.session = Session.NONE
        self.error_code = None
        self.released = False
        self.effects.append(EmitEvent("meeting_ended", {"meeting_id": ended}))

    # cloud session
    def open_session(self, event: EventData) -> None:
        self.speaker_epoch += 1
        self.session = Session.OPENING
        self.released = False
        if self.speaker_epoch > 1:
            # A new diarization session: its Guest-N labels say nothing about the previous ones.
            self.effects.append(EmitEvent("speaker_epoch_changed", {
                "meeting_id": self.meeting_id, "previous": self.speaker_epoch - 1, "speaker_epoch": self.speaker_epoch,
            }))
        self.effects.append(OpenSession(self.speaker_epoch))

    def session_established(self, event: EventData) -> None:
        self.session = Session.ALIVE
        self.error_code = None
        self.backoff.reset()
        if self.lost_in_meeting:
            self.lost_in_meeting = False
            self.effects.append(EmitEvent("session_reestablished", {
                "meeting_id": self.meeting_id, "speaker_epoch": self.speaker_epoch,
            }))

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
        # Graceful only for a live session: one still connecting was sent no audio, so there is nothing
        # to finish, and waiting for its answer would only delay the stop. Emitted even without a
        # session, because the owner answers every CloseSession with session_stopped.
        graceful = self.session is Session.ALIVE
        self.session = Session.NONE
        self.effects.append(CloseSession(graceful=graceful))

    # gate
    def open_gate(self, event: EventData) -> None:
        self.effects.append(GateOpen())

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

    def describe(self) -> str:
        state = self.state
        if state is S.IDLE:
            return "no meeting"
        if state is S.STARTING:
            return "connecting to the speech service"
        if state is S.TRANSCRIBING:
            return "transcribing"
        if state is S.NO_AUDIO:
            session = "" if self.session is not Session.NONE else "; cloud session released, a new one opens when audio flows"
            return f"no audio: {self.audio_detail}{session}"
        if state is S.STOPPING:
            return "finishing the last utterance"
        if state is S.RECOVERING:
            return f"speech session lost ({self.error_code}: {self.loss_reason}); retrying in {self.retry_delay:.1f} s"
        if state is S.FAILED:
            return (f"the speech service refused the session ({self.error_code}: {self.loss_reason}); "
                    f"retrying in {self.retry_delay / 60:g} min, or send start")
        session = {
            Session.ALIVE: "cloud session kept",
            Session.OPENING: "cloud session still connecting",
            Session.NONE: "cloud session released; a new one opens on resume" if self.released
            else "no cloud session; a new one opens on resume",
        }[self.session]
        return f"paused: no audio leaves the room; {session}"


class MeetingMachine:
    """The meeting's state, driven by commands and service events; effects are drained by the owner."""

    def __init__(self, *, release_after_s: float | None, backoff: Backoff, auth_retry_s: float,
                 clock: Callable[[], float]):
        self._meeting = _Meeting(release_after_s=release_after_s, backoff=backoff, auth_retry_s=auth_retry_s,
                                 clock=clock)
        Machine(
            model=self._meeting,
            states=MACHINE_STATES,
            transitions=TRANSITIONS,
            initial=S.IDLE,
            queued=True,  # a trigger fired from a callback runs after the current transition, never inside it
            send_event=True,
            auto_transitions=False,
            ignore_invalid_triggers=True,
            before_state_change="note_cause",
            after_state_change="record_change",
        )

    # what the owner reads
    @property
    def state(self) -> State:
        return self._meeting.state

    @property
    def meeting_id(self) -> str | None:
        return self._meeting.meeting_id

    @property
    def speaker_epoch(self) -> int:
        """Which cloud session of this meeting labels speakers: 1 for the first, 0 when there is no meeting."""
        return self._meeting.speaker_epoch

    @property
    def session_alive(self) -> bool:
        return self._meeting.session is Session.ALIVE

    @property
    def session(self) -> Session:
        return self._meeting.session

    @property
    def audio(self) -> AudioStatus:
        return self._meeting.audio

    @property
    def audio_detail(self) -> str:
        return self._meeting.audio_detail

    @property
    def since(self) -> float:
        return self._meeting.since

    @property
    def detail(self) -> str:
        return self._meeting.detail

    @property
    def error_code(self) -> str | None:
        return self._meeting.error_code

    @property
    def request_id(self) -> str | None:
        return self._meeting.request_id

    # inputs
    def command(self, name: str, request_id: str | None = None) -> CommandResult:
        """A person's command: accepted and carried out, acknowledged (already so), or refused with a reason."""
        if name not in COMMANDS:
            return CommandResult(False, False, f"unknown command {name!r}; expected one of {', '.join(COMMANDS)}")
        state = self.state
        if state in ACKNOWLEDGED[name]:
            return CommandResult(True, False, ACKNOWLEDGED[name][state])
        if getattr(self._meeting, f"may_{name}")(request_id=request_id):
            self._meeting.trigger(name, request_id=request_id)
            return CommandResult(True, True, None)
        reason = REFUSED[name].get(state, f"{name} is not possible while {state.value}")
        return CommandResult(False, False, reason)

    def session_ready(self) -> None:
        self._service_event("session_ready")

    def session_lost(self, *, code: str, reason: str, retryable: bool) -> None:
        self._service_event("session_lost", code=code, reason=reason, retryable=retryable)

    def session_stopped(self) -> None:
        self._service_event("session_stopped")

    def retry_due(self) -> None:
        self._meeting.retry_pending = False
        self._service_event("retry_due")

    def release_due(self, reason: str | None = None, *, from_timer: bool = True) -> None:
        """Release the session: the release timer fired, or (`from_timer=False`) the idle closes say so now."""
        if from_timer:
            self._meeting.release_pending = False
        self._service_event("release_due", **({"reason": reason} if reason else {}))

    def audio_changed(self, status: AudioStatus, detail: str) -> None:
        """The source reported: `transcribing` is entered and kept only while audio flows."""
        meeting = self._meeting
        if (status, detail) == (meeting.audio, meeting.audio_detail):
            return
        meeting.audio, meeting.audio_detail = status, detail
        name = "audio_flowing" if status is AudioStatus.FLOWING else "audio_stopped"
        if getattr(meeting, f"may_{name}")():
            meeting.trigger(name)
        else:  # no change of state, but the retained state carries the audio status
            meeting.detail = meeting.describe()
            meeting.effects.append(PublishState())

    def drain_effects(self) -> list[Effect]:
        effects, self._meeting.effects = self._meeting.effects, []
        return effects

    def _service_event(self, name: str, **kwargs) -> None:
        if getattr(self._meeting, f"may_{name}")(**kwargs):
            self._meeting.trigger(name, **kwargs)
        else:
            # Late news about a session already closed, or a timer that lost a race: nothing to do.
            log.debug("ignored %s while %s", name, self.state.value)


def render_mermaid() -> str:
    """The machine as a Mermaid state diagram, from the same table; docs/state-machine.md holds this text."""
    from transitions.extensions.diagrams import GraphMachine

    machine = GraphMachine(
        states=MACHINE_STATES,
        transitions=TRANSITIONS,
        initial=S.IDLE,
        auto_transitions=False,
        show_conditions=True,
        graph_engine="mermaid",
        title="meeting",
    )
    lines = machine.get_graph().draw(None).splitlines()
    labels = {f'state "{s.name}" as {s.name}': f'state "{s.value}" as {s.name}' for s in State}
    kept = []
    for line in lines:
        text = line.strip()
        # Drop the title block and the styling: they mark the demo machine's current state, not the design.
        if text in {"---", "meeting", ""} or text.startswith(("classDef ", "Class ")):
            continue
        kept.append(line.rstrip().replace(text, labels.get(text, text)))
    return "\n".join(kept) + "\n"
