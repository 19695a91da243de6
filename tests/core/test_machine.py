import logging
import random
import re

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from roomscribe.core.audio_format import CHUNK_BYTES, AudioChunk
from roomscribe.core.backoff import Backoff
from roomscribe.core.gate import AudioGate
from roomscribe.core.commands import COMMANDS
from roomscribe.core.effects import (
    CancelRelease,
    CancelRetry,
    CloseSession,
    CommandResult,
    DiscardBacklog,
    EmitEvent,
    GateClose,
    GateOpen,
    OpenSession,
    PublishState,
    ScheduleRelease,
    ScheduleRetry,
)
from roomscribe.core.machine import MeetingMachine
from roomscribe.core.table import ACKNOWLEDGED, GATE_OPEN_STATES, REFUSED, TRANSITIONS, AudioStatus, Session, State
from tests.support.meeting_paths import AUTH_RETRY_S, Clock, machine_in, make


def events(effects) -> list[str]:
    return [e.kind for e in effects if isinstance(e, EmitEvent)]


def without_events(effects) -> list:
    return [e for e in effects if not isinstance(e, EmitEvent)]


# -- a meeting, start to end -----------------------------------------------------------------------


def test_start_opens_the_first_session_of_a_new_meeting():
    machine, clock = make()
    assert (machine.state, machine.meeting_id, machine.speaker_epoch) == (State.IDLE, None, 0)
    clock.now = 1_005.0
    assert machine.command("start", "req-1") == CommandResult(True, True, None)
    assert machine.state is State.STARTING
    assert re.fullmatch(r"[0-9a-f]{32}", machine.meeting_id)
    assert machine.speaker_epoch == 1 and machine.session is Session.OPENING and not machine.session_alive
    assert (machine.since, machine.request_id) == (1_005.0, "req-1")
    effects = machine.drain_effects()
    # The gate opens at once: what is said while the service connects waits in the outage buffer.
    assert without_events(effects) == [GateOpen(), OpenSession(1), PublishState()]
    assert events(effects) == ["meeting_started"]
    assert machine.drain_effects() == []


def test_session_ready_says_transcribing_and_keeps_the_command_request_id():
    machine, clock = machine_in(State.STARTING)
    machine.command("start", "req-1")  # acknowledged: already starting
    clock.now = 1_010.0
    machine.session_ready()
    assert machine.state is State.TRANSCRIBING and machine.session_alive
    assert machine.drain_effects() == [PublishState()]  # the gate has been open since `starting`
    assert machine.since == 1_010.0 and machine.detail == "transcribing"


def test_stop_finishes_the_utterance_in_flight_then_ends_the_meeting():
    machine, _ = machine_in(State.TRANSCRIBING)
    meeting = machine.meeting_id
    assert machine.command("stop", "s1").changed
    assert machine.state is State.STOPPING
    assert machine.drain_effects() == [GateClose(tail=True, at_once=True), CloseSession(graceful=True), PublishState()]
    machine.session_stopped()
    assert (machine.state, machine.meeting_id, machine.speaker_epoch, machine.request_id) == (State.IDLE, None, 0, "s1")
    effects = machine.drain_effects()
    assert effects[-1] == PublishState() and events(effects) == ["meeting_ended"]
    assert effects[0].detail == {"meeting_id": meeting}
    assert machine.command("start").changed and machine.meeting_id != meeting  # a new meeting, a new id


# -- pause and resume ------------------------------------------------------------------------------


def test_pause_closes_the_gate_with_a_tail_and_keeps_the_session():
    machine, _ = machine_in(State.TRANSCRIBING)
    assert machine.command("pause", "p1") == CommandResult(True, True, None)
    assert machine.state is State.PAUSED and machine.session_alive and machine.request_id == "p1"
    assert machine.drain_effects() == [GateClose(tail=True), PublishState()]  # no release configured
    assert "cloud session kept" in machine.detail
    assert machine.command("resume", "r1").changed
    assert machine.state is State.TRANSCRIBING and machine.speaker_epoch == 1
    assert machine.drain_effects() == [GateOpen(), PublishState()]


def test_a_long_pause_releases_the_session_and_resume_opens_a_new_epoch():
    machine, _ = machine_in(State.TRANSCRIBING, release_after_s=900.0)
    machine.command("pause")
    assert machine.drain_effects() == [GateClose(tail=True), ScheduleRelease(900.0), PublishState()]
    machine.release_due()
    assert machine.state is State.PAUSED and machine.session is Session.NONE
    effects = machine.drain_effects()
    assert without_events(effects) == [CloseSession(graceful=True), PublishState()]
    assert events(effects) == ["session_released"]
    assert "released" in machine.detail
    machine.command("resume")
    assert machine.state is State.STARTING
    effects = machine.drain_effects()
    assert without_events(effects) == [GateOpen(), OpenSession(2), PublishState()]  # the release timer already fired
    assert events(effects) == ["speaker_epoch_changed"]
    assert next(e for e in effects if isinstance(e, EmitEvent)).detail["speaker_epoch"] == 2
    machine.session_ready()
    assert machine.state is State.TRANSCRIBING and machine.speaker_epoch == 2


def test_resume_before_the_release_cancels_it_and_a_late_release_is_ignored():
    machine, _ = machine_in(State.TRANSCRIBING, release_after_s=900.0)
    machine.command("pause")
    machine.drain_effects()
    machine.command("resume")
    assert machine.drain_effects() == [CancelRelease(), GateOpen(), PublishState()]
    machine.release_due()  # the timer fired while the owner was cancelling it
    assert machine.state is State.TRANSCRIBING and machine.session_alive
    assert machine.drain_effects() == []


def test_session_lost_while_paused_keeps_the_pause_and_reopens_on_resume():
    machine, _ = machine_in(State.PAUSED, release_after_s=900.0)
    machine.session_lost(code="ConnectionFailure", reason="idle close", retryable=True)
    assert machine.state is State.PAUSED and machine.session is Session.NONE
    assert machine.error_code == "ConnectionFailure" and machine.request_id is None
    effects = machine.drain_effects()
    # Nothing left to release, and no retry while paused: the session is reopened on resume.
    assert without_events(effects) == [CancelRelease(), CloseSession(graceful=False), PublishState()]
    assert events(effects) == ["session_lost"]
    machine.release_due()  # the cancelled timer fired anyway
    assert machine.drain_effects() == []
    machine.command("resume")
    assert without_events(machine.drain_effects()) == [GateOpen(), OpenSession(2), PublishState()]


def test_pause_while_starting_lets_the_session_finish_connecting_behind_a_closed_gate():
    machine, _ = machine_in(State.STARTING, release_after_s=900.0)
    machine.command("pause")
    assert machine.state is State.PAUSED and machine.session is Session.OPENING
    assert machine.drain_effects() == [GateClose(tail=True), ScheduleRelease(900.0), PublishState()]
    machine.session_ready()
    assert machine.state is State.PAUSED and machine.session_alive
    assert machine.drain_effects() == [PublishState()]  # ready, but no audio flows
    machine.command("resume")
    assert machine.drain_effects() == [CancelRelease(), GateOpen(), PublishState()]


def test_resume_while_the_session_is_still_connecting_waits_for_it():
    machine, _ = machine_in(State.STARTING)
    machine.command("pause")
    machine.command("resume")
    assert machine.state is State.STARTING and machine.session is Session.OPENING
    # No second OpenSession.
    assert machine.drain_effects() == [GateClose(tail=True), PublishState(), GateOpen(), PublishState()]
    machine.session_ready()
    assert machine.state is State.TRANSCRIBING and machine.drain_effects() == [PublishState()]


def test_stop_while_starting_does_not_wait_for_a_session_that_got_no_audio():
    machine, _ = machine_in(State.STARTING)
    machine.command("stop")
    assert machine.drain_effects() == [GateClose(tail=True, at_once=True), CloseSession(graceful=False), PublishState()]
    machine.session_ready()  # the connect finished after the stop: ignored
    assert machine.state is State.STOPPING and machine.drain_effects() == []


def test_stop_while_paused_cancels_the_release():
    machine, _ = machine_in(State.PAUSED, release_after_s=60.0)
    machine.command("stop")
    assert machine.drain_effects() == [CancelRelease(), CloseSession(graceful=True), PublishState()]


# -- losing the cloud session --------------------------------------------------------------------


def test_session_lost_while_transcribing_recovers_with_backoff_and_a_new_epoch_keeping_the_audio():
    machine, clock = machine_in(State.TRANSCRIBING)
    clock.now = 2_000.0
    machine.session_lost(code="ConnectionFailure", reason="socket closed", retryable=True)
    assert machine.state is State.RECOVERING and machine.since == 2_000.0 and machine.reason == "lost"
    effects = machine.drain_effects()
    # The gate stays open: what is said meanwhile waits in the outage buffer for the next session.
    assert effects[:2] == [effects[0], CloseSession(graceful=False)]
    assert effects[0].kind == "session_lost" and effects[0].level == "warning"
    assert effects[0].detail["code"] == "ConnectionFailure" and effects[0].detail["retryable"] is True
    retry = effects[2]
    assert isinstance(retry, ScheduleRetry) and 1.0 <= retry.delay_s <= 3.0
    assert effects[3:] == [PublishState()]
    assert "ConnectionFailure" in machine.detail and machine.error_code == "ConnectionFailure"
    assert "kept in memory" in machine.detail
    machine.retry_due()
    assert machine.state is State.STARTING
    effects = machine.drain_effects()
    assert without_events(effects) == [OpenSession(2), PublishState()] and events(effects) == ["speaker_epoch_changed"]
    machine.session_ready()
    effects = machine.drain_effects()
    assert without_events(effects) == [PublishState()]
    assert events(effects) == ["session_reestablished"]
    assert machine.error_code is None


def test_repeated_failures_back_off_up_to_the_cap_never_in_a_hot_loop():
    machine, _ = machine_in(State.STARTING)
    delays = []
    for _ in range(25):
        machine.session_lost(code="ServiceUnavailable", reason="503", retryable=True)
        delays.append(next(e.delay_s for e in machine.drain_effects() if isinstance(e, ScheduleRetry)))
        machine.retry_due()
        machine.drain_effects()
    assert all(1.0 <= d <= 30.0 for d in delays)
    assert max(delays) == pytest.approx(30.0)
    assert machine.speaker_epoch == 1  # none of them answered: none labelled anybody, no new epoch
    machine.session_ready()
    machine.session_lost(code="ServiceUnavailable", reason="503", retryable=True)
    delay = next(e.delay_s for e in machine.drain_effects() if isinstance(e, ScheduleRetry))
    assert delay <= 3.0  # a success resets the backoff


def test_a_refused_session_fails_and_waits_long_or_for_start():
    machine, _ = machine_in(State.TRANSCRIBING)
    machine.session_lost(code="AuthenticationFailure", reason="bad key", retryable=False)
    assert machine.state is State.FAILED
    effects = machine.drain_effects()
    assert [e for e in effects if isinstance(e, ScheduleRetry)] == [ScheduleRetry(AUTH_RETRY_S)]
    assert effects[0] == GateClose(tail=False)
    # The service will not take the audio: what the buffer kept is reported lost, not kept for ever.
    assert DiscardBacklog(machine.meeting_id, "service_refused") in effects
    assert "AuthenticationFailure" in machine.detail and "10 min" in machine.detail and machine.reason == "refused"
    assert machine.command("start", "again").changed
    assert machine.state is State.STARTING and machine.request_id == "again"
    assert without_events(machine.drain_effects()) == [CancelRetry(), GateOpen(), OpenSession(2), PublishState()]
    machine.session_lost(code="AuthenticationFailure", reason="bad key", retryable=False)
    machine.drain_effects()
    machine.retry_due()
    assert machine.state is State.STARTING
    # The refused session never answered: the next one keeps its epoch.
    assert without_events(machine.drain_effects()) == [GateOpen(), OpenSession(2), PublishState()]


def test_start_while_recovering_retries_now():
    machine, _ = machine_in(State.RECOVERING)
    machine.command("start")
    assert without_events(machine.drain_effects()) == [CancelRetry(), OpenSession(2), PublishState()]
    machine.retry_due()  # the cancelled timer fired anyway: ignored
    assert machine.state is State.STARTING and machine.drain_effects() == []


def test_pause_while_recovering_stops_retrying_until_resume():
    machine, _ = machine_in(State.RECOVERING, release_after_s=60.0)
    machine.command("pause")
    assert machine.state is State.PAUSED and machine.session is Session.NONE
    # The tail ends the phrase in flight for the session that will be sent it; nothing to release.
    assert machine.drain_effects() == [GateClose(tail=True), CancelRetry(), PublishState()]
    machine.retry_due()
    assert machine.state is State.PAUSED and machine.drain_effects() == []
    machine.command("resume")
    assert machine.state is State.STARTING
    assert without_events(machine.drain_effects()) == [GateOpen(), OpenSession(2), PublishState()]


def test_stale_service_events_are_ignored():
    for state in State:
        for event in ("session_ready", "session_stopped", "retry_due", "release_due", "session_lost"):
            machine, _ = machine_in(state)
            handled = {s for s in _sources(event)}
            kwargs = {"code": "X", "reason": "y", "retryable": True} if event == "session_lost" else {}
            getattr(machine, event)(**kwargs)
            if state not in handled:
                assert machine.state is state and machine.drain_effects() == [], (event, state)


def _sources(trigger: str) -> set[State]:
    found = set()
    for row in TRANSITIONS:
        if row["trigger"] == trigger:
            sources = row["source"] if isinstance(row["source"], list) else [row["source"]]
            found.update(sources)
    return found


# -- commands: acknowledged, refused, never an exception -------------------------------------------


@pytest.mark.parametrize("state", list(State))
@pytest.mark.parametrize("name", COMMANDS)
def test_every_command_in_every_state_is_carried_out_acknowledged_or_refused(name, state):
    machine, _ = machine_in(state)
    before = (machine.meeting_id, machine.request_id, machine.since)
    result = machine.command(name, "rid")
    if state in ACKNOWLEDGED[name]:
        assert result == CommandResult(True, False, ACKNOWLEDGED[name][state])
    elif state in _sources(name):
        assert result == CommandResult(True, True, None)
        assert machine.request_id == "rid"
        return
    else:
        assert not result.accepted and not result.changed and result.reason
        if state in REFUSED[name]:
            assert result.reason == REFUSED[name][state]
    assert machine.state is state and machine.drain_effects() == []
    assert (machine.meeting_id, machine.request_id, machine.since) == before


def test_commands_are_partitioned_between_transitions_acknowledgements_and_refusals():
    for name in COMMANDS:
        carried, acked, refused = _sources(name), set(ACKNOWLEDGED[name]), set(REFUSED[name])
        assert not carried & acked and not carried & refused and not acked & refused, name
        assert carried | acked | refused == set(State), name


def test_unknown_commands_are_refused_with_a_reason():
    machine, _ = make()
    result = machine.command("reboot", "x")
    assert not result.accepted and "reboot" in result.reason and "pause" in result.reason
    assert machine.drain_effects() == []


def test_building_the_machine_logs_no_warnings(caplog):
    with caplog.at_level(logging.WARNING):
        make()
    assert caplog.records == []


# -- any sequence of inputs keeps the invariants ---------------------------------------------------


class MeetingInvariants(RuleBasedStateMachine):
    """The owner's side, played for real against an AudioGate: every effect is carried out."""

    def __init__(self):
        super().__init__()
        self.clock = Clock()
        self.machine = MeetingMachine(
            release_after_s=300.0, backoff=Backoff(1.0, 30.0, rng=random.Random(0)), auth_retry_s=AUTH_RETRY_S,
            clock=self.clock,
        )
        self.gate = AudioGate(tail_ms=500)
        self.owner_has_session = False
        self.retry_armed = self.release_armed = False
        self.last_epoch = 0
        self.last_state = State.IDLE
        self.captured = 0

    def apply(self):
        state_changed = self.machine.state is not self.last_state
        effects = self.machine.drain_effects()
        if state_changed:
            assert PublishState() in effects and self.machine.since == self.clock.now
        for effect in effects:
            if isinstance(effect, OpenSession):
                assert not self.owner_has_session, "a second session would leak the first"
                # A new epoch, or the same one when the session before it never answered.
                assert effect.speaker_epoch in (self.last_epoch, self.last_epoch + 1) and effect.speaker_epoch >= 1
                self.last_epoch = effect.speaker_epoch
                self.owner_has_session = True
            elif isinstance(effect, CloseSession):
                self.owner_has_session = False
            elif isinstance(effect, GateOpen):
                self.gate.open()
            elif isinstance(effect, GateClose):
                self.gate.close(tail=effect.tail, at_once=effect.at_once)
            elif isinstance(effect, ScheduleRetry):
                assert effect.delay_s >= 1.0  # never a hot loop
                self.retry_armed = True
            elif isinstance(effect, CancelRetry):
                self.retry_armed = False
            elif isinstance(effect, ScheduleRelease):
                self.release_armed = True
            elif isinstance(effect, CancelRelease):
                self.release_armed = False
        if self.machine.state is State.IDLE:
            self.last_epoch = 0
        self.last_state = self.machine.state

    @rule(name=st.sampled_from(COMMANDS + ("bogus",)), request_id=st.sampled_from([None, "a", "b"]))
    def command(self, name, request_id):
        self.clock.now += 1
        result = self.machine.command(name, request_id)
        assert isinstance(result, CommandResult) and (result.accepted or result.reason)
        self.apply()

    @rule()
    def session_ready(self):
        self.clock.now += 1
        self.machine.session_ready()
        self.apply()

    @rule(retryable=st.booleans())
    def session_lost(self, retryable):
        self.clock.now += 1
        self.machine.session_lost(code="E", reason="r", retryable=retryable)
        self.apply()

    @rule(unanswered=st.sampled_from([10.0, 12.5]))
    def session_stalled(self, unanswered):
        self.clock.now += 1
        self.machine.session_stalled(unanswered)
        self.apply()

    @rule()
    def session_stopped(self):
        self.clock.now += 1
        self.machine.session_stopped()
        self.apply()

    @precondition(lambda self: self.retry_armed)
    @rule()
    def retry_fires(self):
        self.retry_armed = False
        self.machine.retry_due()
        self.apply()

    @precondition(lambda self: self.release_armed)
    @rule()
    def release_fires(self):
        self.release_armed = False
        self.machine.release_due()
        self.apply()

    @rule()
    def capture(self):
        writes = self.gate.process(AudioChunk(b"\x01" * CHUNK_BYTES, self.clock.now))
        assert any(w.live for w in writes) == (self.machine.state in GATE_OPEN_STATES)
        assert all(not any(w.pcm) for w in writes if not w.live)  # only silence while the gate is closed
        self.captured += 1

    @rule(status=st.sampled_from(list(AudioStatus)))
    def audio(self, status):
        self.clock.now += 1
        self.machine.audio_changed(status, f"source {status.value}")
        self.apply()

    @precondition(lambda self: self.machine.state in (State.PAUSED, State.NO_AUDIO))
    @rule()
    def idle_closes_release(self):
        self.machine.release_due(reason="the service closed the idle connection 3 times", from_timer=False)
        self.apply()

    @invariant()
    def gate_is_open_exactly_while_the_meeting_keeps_its_audio(self):
        assert self.gate.is_open == (self.machine.state in GATE_OPEN_STATES)

    @invariant()
    def meeting_fields_are_consistent(self):
        m = self.machine
        assert (m.meeting_id is None) == (m.state is State.IDLE)
        assert (m.speaker_epoch == 0) == (m.state is State.IDLE)
        if m.state is State.TRANSCRIBING:
            assert m.session_alive and m.audio is AudioStatus.FLOWING  # never says transcribing while deaf
        if m.state in (State.IDLE, State.FAILED, State.STOPPING):
            assert m.session is Session.NONE
        if m.state is State.RECOVERING:
            assert m.session in (Session.NONE, Session.STALLED)
        if m.session is Session.STALLED:
            assert m.state in (State.RECOVERING, State.PAUSED, State.NO_AUDIO)
        assert isinstance(m.detail, str) and m.detail

    @invariant()
    def timers_only_where_they_mean_something(self):
        if self.retry_armed:
            assert self.machine.state in (State.RECOVERING, State.FAILED)
        if self.release_armed:
            assert self.machine.state is State.PAUSED and self.machine.session is not Session.NONE


MeetingInvariants.TestCase.settings = settings(max_examples=150, stateful_step_count=40, deadline=None)
test_any_sequence_of_inputs_keeps_the_invariants = MeetingInvariants.TestCase


# -- the audio source: `transcribing` only while audio flows ------------------------------------------


def test_a_ready_session_waits_for_audio_before_it_says_transcribing():
    machine, _ = make(audio=False)
    machine.command("start")
    machine.drain_effects()
    machine.session_ready()
    assert machine.state is State.NO_AUDIO and machine.session_alive
    assert machine.drain_effects() == [GateClose(tail=True, at_once=True), PublishState()]  # nothing flows
    assert "no audio" in machine.detail
    machine.audio_changed(AudioStatus.WAITING, "capture device 0: 'USB' is open; no audio delivered yet")
    assert machine.state is State.NO_AUDIO and "no audio delivered yet" in machine.detail
    assert machine.drain_effects() == [PublishState()]  # the retained state carries the audio status
    machine.audio_changed(AudioStatus.FLOWING, "capture device 0: 'USB' delivers audio")
    assert machine.state is State.TRANSCRIBING
    assert machine.drain_effects() == [GateOpen(), PublishState()]


def test_audio_lost_while_transcribing_finishes_the_phrase_and_says_so_and_returns():
    machine, _ = machine_in(State.TRANSCRIBING)
    machine.audio_changed(AudioStatus.LOST, "capture device 0: 'USB' stopped delivering audio (2 s silent)")
    assert machine.state is State.NO_AUDIO and machine.session_alive
    assert machine.drain_effects() == [GateClose(tail=True, at_once=True), PublishState()]
    assert "stopped delivering" in machine.detail
    machine.audio_changed(AudioStatus.FLOWING, "capture device 0: 'USB' delivers audio")
    assert machine.state is State.TRANSCRIBING and machine.speaker_epoch == 1  # same session, same labels


def test_audio_changes_while_paused_keep_the_pause_and_a_resume_without_audio_says_no_audio():
    machine, _ = machine_in(State.PAUSED)
    machine.audio_changed(AudioStatus.LOST, "unplugged")
    assert machine.state is State.PAUSED and machine.drain_effects() == [PublishState()]
    assert machine.command("resume").changed
    assert machine.state is State.NO_AUDIO
    assert not any(isinstance(e, GateOpen) for e in machine.drain_effects())
    machine.audio_changed(AudioStatus.FLOWING, "back")
    assert machine.state is State.TRANSCRIBING


@pytest.mark.parametrize("command, expected", [("pause", State.PAUSED), ("stop", State.STOPPING)])
def test_pause_and_stop_work_without_audio(command, expected):
    machine, _ = machine_in(State.NO_AUDIO)
    assert machine.command(command).changed
    assert machine.state is expected
    assert not any(isinstance(e, GateClose) for e in machine.drain_effects())  # the gate is already closed


def test_a_session_released_without_audio_is_reopened_when_audio_returns():
    machine, _ = machine_in(State.NO_AUDIO)
    machine.release_due(reason="the service closed the idle connection 3 times", from_timer=False)
    assert machine.state is State.NO_AUDIO and machine.session is Session.NONE
    machine.drain_effects()
    machine.audio_changed(AudioStatus.FLOWING, "back")
    assert machine.state is State.STARTING and machine.speaker_epoch == 2
    assert OpenSession(2) in machine.drain_effects()
    machine.session_ready()
    assert machine.state is State.TRANSCRIBING


# -- a service that stops answering --------------------------------------------------------------------


def test_a_stall_leaves_transcribing_keeps_the_gate_open_and_the_session_and_says_why():
    machine, _ = machine_in(State.TRANSCRIBING)
    assert machine.session_stalled(10.4)
    assert machine.state is State.RECOVERING and machine.session is Session.STALLED and machine.reason == "stalled"
    effects = machine.drain_effects()
    assert without_events(effects) == [ScheduleRetry(50.0), PublishState()]  # no gate close, no session close
    [stalled] = [e for e in effects if isinstance(e, EmitEvent)]
    assert stalled.kind == "speech_stalled" and stalled.level == "warning"
    assert stalled.detail == {"meeting_id": machine.meeting_id, "speaker_epoch": 1, "unanswered_s": 10.4}
    assert "stopped answering" in machine.detail and "kept in memory" in machine.detail
    assert not machine.session_stalled(12.0)  # already stalled: nothing more


def test_a_stalled_session_that_answers_again_transcribes_on_with_the_same_labels():
    machine, _ = machine_in(State.TRANSCRIBING)
    machine.session_stalled(10.0)
    machine.drain_effects()
    machine.session_ready()
    assert machine.state is State.TRANSCRIBING and machine.speaker_epoch == 1 and machine.reason is None
    effects = machine.drain_effects()
    assert without_events(effects) == [CancelRetry(), PublishState()] and events(effects) == ["session_reestablished"]


def test_a_stalled_session_that_stays_silent_is_replaced_by_a_new_one():
    machine, _ = machine_in(State.TRANSCRIBING)
    machine.session_stalled(10.0)
    machine.drain_effects()
    machine.retry_due()
    assert machine.state is State.STARTING and machine.session is Session.OPENING
    effects = machine.drain_effects()
    # The stalled one is given up first; the gate stays open throughout.
    assert without_events(effects) == [CloseSession(graceful=False), OpenSession(2), PublishState()]
    assert events(effects) == ["speaker_epoch_changed"]
    assert "kept in memory" in machine.detail
    machine.session_ready()
    assert machine.state is State.TRANSCRIBING and events(machine.drain_effects()) == ["session_reestablished"]


def test_a_stall_during_a_pause_is_noted_and_the_resume_waits_for_an_answer():
    machine, _ = machine_in(State.PAUSED)
    assert machine.session_stalled(11.0)
    assert machine.state is State.PAUSED and machine.session is Session.STALLED
    assert events(machine.drain_effects()) == ["speech_stalled"]
    machine.command("resume")
    assert machine.state is State.RECOVERING and machine.reason == "stalled"
    assert without_events(machine.drain_effects()) == [GateOpen(), ScheduleRetry(50.0), PublishState()]
    machine.session_ready()
    assert machine.state is State.TRANSCRIBING


def test_stop_while_stalled_gives_the_session_up_and_the_meeting_end_discards_what_was_kept():
    machine, _ = machine_in(State.TRANSCRIBING)
    meeting = machine.meeting_id
    machine.session_stalled(10.0)
    machine.drain_effects()
    machine.command("stop")
    assert machine.drain_effects() == [GateClose(tail=True, at_once=True), CancelRetry(), CloseSession(graceful=False),
                                       PublishState()]
    machine.session_stopped()
    effects = machine.drain_effects()
    assert DiscardBacklog(meeting, "meeting_ended") in effects
    assert effects.index(DiscardBacklog(meeting, "meeting_ended")) < effects.index(PublishState())


def test_audio_that_stops_while_the_service_is_away_gets_its_tail_now_and_the_gate_stays_open():
    machine, _ = machine_in(State.RECOVERING)
    machine.audio_changed(AudioStatus.ENDED, "meeting.wav played to its end")
    assert machine.state is State.RECOVERING
    assert machine.drain_effects() == [GateClose(tail=True, at_once=True), GateOpen(), PublishState()]


def test_a_session_lost_after_a_stall_is_retried_with_backoff():
    machine, _ = machine_in(State.TRANSCRIBING)
    machine.session_stalled(10.0)
    machine.drain_effects()
    machine.session_lost(code="ServiceTimeout", reason="client buffer exceeded", retryable=True)
    assert machine.state is State.RECOVERING and machine.session is Session.NONE and machine.reason == "lost"
    effects = machine.drain_effects()
    assert CloseSession(graceful=False) in effects
    assert any(isinstance(e, ScheduleRetry) and e.delay_s <= 3.0 for e in effects)
