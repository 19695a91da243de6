"""The meeting machine as data: its states, the transition table, and what each command does where.

`transitions` runs this table (core/machine.py); the callbacks it names are methods of
core/meeting.py's model. docs/state-machine.md explains every row; a test keeps its diagram
equal to `render_mermaid()`, and another checks the command tables below against the machine.
"""

from __future__ import annotations

from enum import Enum

from roomscribe.core.commands import COMMANDS  # noqa: F401  (the machine's command triggers)


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
    OPENING = "opening"  # started; the service has not answered yet
    ALIVE = "alive"  # the service answered (took the connection, or sent a result)
    STALLED = "stalled"  # it answered before, and has left speech unanswered past the bound since


S = State
# The gate is open exactly in these states: captured audio goes to the outage buffer (core/uplink.py),
# and from there to the service once a session answers. A meeting that is on and not paused keeps its audio.
GATE_OPEN_STATES = frozenset({S.STARTING, S.TRANSCRIBING, S.RECOVERING})

MACHINE_STATES = [
    {"name": S.IDLE},
    {"name": S.STARTING, "on_enter": "open_gate"},
    {"name": S.TRANSCRIBING, "on_enter": "open_gate"},
    {"name": S.PAUSED, "on_enter": "schedule_release", "on_exit": "cancel_release"},
    {"name": S.STOPPING},
    {"name": S.RECOVERING, "on_enter": "open_gate", "on_exit": "cancel_retry"},
    {"name": S.FAILED, "on_exit": "cancel_retry"},
    {"name": S.NO_AUDIO},
]

# Effects of a transition: `before` runs before the state is left, `after` once the new one is entered.
# A transition without `dest` is internal: the state stays, no enter/exit callbacks run.
OPEN = [S.STARTING, S.RECOVERING]  # the gate is open, and no session answers
TRANSITIONS = [
    {"trigger": "start", "source": S.IDLE, "dest": S.STARTING, "after": ["begin_meeting", "open_session"]},
    {"trigger": "start", "source": [S.RECOVERING, S.FAILED], "dest": S.STARTING, "after": "open_session"},
    {"trigger": "session_ready", "source": S.STARTING, "dest": S.TRANSCRIBING, "conditions": "has_audio",
     "after": "session_established"},
    {"trigger": "session_ready", "source": S.STARTING, "dest": S.NO_AUDIO, "unless": "has_audio",
     "before": "close_gate_tail_now", "after": "session_established"},
    {"trigger": "session_ready", "source": S.RECOVERING, "dest": S.TRANSCRIBING,
     "conditions": ["session_silent", "has_audio"], "after": "session_established"},
    {"trigger": "session_ready", "source": S.RECOVERING, "dest": S.NO_AUDIO, "conditions": "session_silent",
     "unless": "has_audio", "before": "close_gate_tail_now", "after": "session_established"},
    {"trigger": "session_ready", "source": [S.PAUSED, S.NO_AUDIO], "dest": None, "conditions": "session_unanswered",
     "after": "session_established"},
    {"trigger": "session_stalled", "source": S.TRANSCRIBING, "dest": S.RECOVERING,
     "after": ["stall_session", "schedule_replacement"]},
    {"trigger": "session_stalled", "source": [S.PAUSED, S.NO_AUDIO], "dest": None, "conditions": "session_alive",
     "after": "stall_session"},
    {"trigger": "pause", "source": [S.TRANSCRIBING, *OPEN], "dest": S.PAUSED, "before": "close_gate_with_tail"},
    {"trigger": "pause", "source": [S.FAILED, S.NO_AUDIO], "dest": S.PAUSED},
    {"trigger": "resume", "source": S.PAUSED, "dest": S.TRANSCRIBING, "conditions": ["session_alive", "has_audio"]},
    {"trigger": "resume", "source": S.PAUSED, "dest": S.NO_AUDIO, "conditions": "session_alive",
     "unless": "has_audio"},
    {"trigger": "resume", "source": S.PAUSED, "dest": S.STARTING, "conditions": "session_opening"},
    {"trigger": "resume", "source": S.PAUSED, "dest": S.STARTING, "conditions": "session_gone",
     "after": "open_session"},
    {"trigger": "resume", "source": S.PAUSED, "dest": S.RECOVERING, "conditions": "session_silent",
     "after": "schedule_replacement"},
    {"trigger": "session_lost", "source": [S.STARTING, S.TRANSCRIBING], "dest": S.RECOVERING,
     "conditions": "retryable", "after": ["lose_session", "schedule_retry"]},
    {"trigger": "session_lost", "source": S.RECOVERING, "dest": None, "conditions": ["retryable", "has_session"],
     "after": ["lose_session", "schedule_retry"]},
    {"trigger": "session_lost", "source": [S.STARTING, S.TRANSCRIBING], "dest": S.FAILED, "unless": "retryable",
     "before": "close_gate_without_tail", "after": ["lose_session", "discard_backlog", "schedule_auth_retry"]},
    {"trigger": "session_lost", "source": S.RECOVERING, "dest": S.FAILED, "conditions": "has_session",
     "unless": "retryable", "before": "close_gate_without_tail", "after": ["lose_session", "discard_backlog", "schedule_auth_retry"]},
    {"trigger": "session_lost", "source": S.NO_AUDIO, "dest": S.RECOVERING, "conditions": "retryable",
     "after": ["lose_session", "schedule_retry"]},
    {"trigger": "session_lost", "source": S.NO_AUDIO, "dest": S.FAILED, "unless": "retryable",
     "after": ["lose_session", "discard_backlog", "schedule_auth_retry"]},
    {"trigger": "session_lost", "source": S.PAUSED, "dest": None, "conditions": "has_session",
     "after": "lose_session"},
    {"trigger": "retry_due", "source": [S.RECOVERING, S.FAILED], "dest": S.STARTING, "after": "open_session"},
    {"trigger": "release_due", "source": [S.PAUSED, S.NO_AUDIO], "dest": None, "conditions": "has_session",
     "after": "release_session"},
    {"trigger": "audio_flowing", "source": S.NO_AUDIO, "dest": S.TRANSCRIBING, "conditions": "session_alive"},
    {"trigger": "audio_flowing", "source": S.NO_AUDIO, "dest": S.STARTING, "conditions": "session_gone",
     "after": "open_session"},
    {"trigger": "audio_flowing", "source": S.NO_AUDIO, "dest": S.RECOVERING, "conditions": "session_silent",
     "after": "schedule_replacement"},
    {"trigger": "audio_stopped", "source": S.TRANSCRIBING, "dest": S.NO_AUDIO, "before": "close_gate_tail_now"},
    {"trigger": "audio_stopped", "source": OPEN, "dest": None, "conditions": "audio_was_flowing",
     "after": "end_phrase_now"},
    {"trigger": "stop", "source": [S.TRANSCRIBING, *OPEN], "dest": S.STOPPING, "before": "close_gate_tail_now",
     "after": "finish_session"},
    {"trigger": "stop", "source": [S.PAUSED, S.FAILED, S.NO_AUDIO], "dest": S.STOPPING, "after": "finish_session"},
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
COMPLETIONS = {"session_ready", "session_stopped", "audio_flowing"}
