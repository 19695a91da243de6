"""The meeting state machine: the table (core/table.py) run by `transitions`, effects as values.

The machine only decides. Its callbacks (core/meeting.py) change its own fields and append Effect
objects (core/effects.py); the owner drains them and acts (opens the gate, starts a cloud session,
arms a timer). docs/state-machine.md explains the states, the transitions and why; a test keeps its
diagram equal to `render_mermaid()`.
"""

from __future__ import annotations

import logging
from typing import Callable

from transitions import Machine

from roomscribe.core.backoff import Backoff
from roomscribe.core.commands import COMMANDS
from roomscribe.core.effects import CommandResult, Effect, PublishState
from roomscribe.core.describe import describe
from roomscribe.core.meeting import MeetingModel
from roomscribe.core.table import (
    ACKNOWLEDGED,
    MACHINE_STATES,
    REFUSED,
    TRANSITIONS,
    AudioStatus,
    Session,
    State,
)

log = logging.getLogger(__name__)

S = State
# A stalled session that stays silent this long after the stall was found is replaced by a new one
# (the flow may be gone for good, as behind a NAT that dropped it): 60 s after its oldest unanswered
# speech, about when the SDK itself would give up (66 s of unacknowledged audio).
REPLACE_STALLED_S = 50.0


class MeetingMachine:
    """The meeting's state, driven by commands and service events; effects are drained by the owner."""

    def __init__(self, *, release_after_s: float | None, backoff: Backoff, auth_retry_s: float,
                 clock: Callable[[], float], replace_stalled_s: float = REPLACE_STALLED_S):
        self._meeting = MeetingModel(release_after_s=release_after_s, backoff=backoff, auth_retry_s=auth_retry_s,
                                     clock=clock, replace_stalled_s=replace_stalled_s)
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

    @property
    def reason(self) -> str | None:
        """Why the meeting is not transcribing, in a word, where a word says more than the state:
        `stalled` or `lost` while recovering, `refused` when failed."""
        if self.state is S.RECOVERING:
            return "stalled" if self._meeting.session is Session.STALLED else "lost"
        if self.state is S.FAILED:
            return "refused"
        return None

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

    def session_stalled(self, unanswered_s: float) -> bool:
        """The answering session left speech unanswered past the bound; True if the machine took it."""
        return self._service_event("session_stalled", unanswered_s=unanswered_s)

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
        was = meeting.audio
        meeting.audio, meeting.audio_detail = status, detail
        name = "audio_flowing" if status is AudioStatus.FLOWING else "audio_stopped"
        if getattr(meeting, f"may_{name}")(was=was):
            meeting.trigger(name, was=was)
        else:  # no change of state, but the retained state carries the audio status
            meeting.detail = describe(meeting)
            meeting.effects.append(PublishState())

    def clock_stepped(self, step_s: float) -> None:
        """The wall clock stepped by `step_s`: the time of the last change, taken before, moves with it."""
        self._meeting.since += step_s

    def drain_effects(self) -> list[Effect]:
        effects, self._meeting.effects = self._meeting.effects, []
        return effects

    def _service_event(self, name: str, **kwargs) -> bool:
        if getattr(self._meeting, f"may_{name}")(**kwargs):
            self._meeting.trigger(name, **kwargs)
            return True
        # Late news about a session already closed, or a timer that lost a race: nothing to do.
        log.debug("ignored %s while %s", name, self.state.value)
        return False


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
