"""Meeting machines for tests: a settable clock and the canonical way into each state."""

from __future__ import annotations

import random

from roomscribe.core.backoff import Backoff
from roomscribe.core.machine import MeetingMachine
from roomscribe.core.table import AudioStatus, State

AUTH_RETRY_S = 600.0


class Clock:
    def __init__(self, now: float = 1_000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


def make(release_after_s: float | None = None, seed: int = 1, audio: bool = True) -> tuple[MeetingMachine, Clock]:
    """A machine in `idle`; with `audio`, its source already delivers (as a running microphone does)."""
    clock = Clock()
    machine = MeetingMachine(
        release_after_s=release_after_s,
        backoff=Backoff(initial=1.0, cap=30.0, rng=random.Random(seed)),
        auth_retry_s=AUTH_RETRY_S,
        clock=clock,
    )
    if audio:
        machine.audio_changed(AudioStatus.FLOWING, "test source delivers audio")
        machine.drain_effects()
    return machine, clock


# The canonical path into each state; paused with a live session.
PATHS = {
    State.IDLE: [],
    State.STARTING: ["start"],
    State.TRANSCRIBING: ["start", "ready"],
    State.PAUSED: ["start", "ready", "pause"],
    State.STOPPING: ["start", "ready", "stop"],
    State.RECOVERING: ["start", "ready", "lost"],
    State.FAILED: ["start", "refused"],
    State.NO_AUDIO: ["start", "ready", "mic lost"],
}


def drive(machine: MeetingMachine, steps: list[str]) -> None:
    """Play the steps and drop the effects they produced."""
    for step in steps:
        if step == "ready":
            machine.session_ready()
        elif step == "lost":
            machine.session_lost(code="ConnectionFailure", reason="socket closed", retryable=True)
        elif step == "mic lost":
            machine.audio_changed(AudioStatus.LOST, "capture device 0: 'USB' stopped delivering audio")
        elif step == "mic back":
            machine.audio_changed(AudioStatus.FLOWING, "capture device 0: 'USB' delivers audio")
        elif step == "refused":
            machine.session_lost(code="AuthenticationFailure", reason="bad key", retryable=False)
        else:
            assert machine.command(step).changed, step
    machine.drain_effects()


def machine_in(state: State, **kwargs) -> tuple[MeetingMachine, Clock]:
    machine, clock = make(**kwargs)
    drive(machine, PATHS[state])
    assert machine.state is state
    return machine, clock
