"""Every emulator fault through the real Speech SDK, asserting the SDK reaction usp-protocol.md §7 records."""

from __future__ import annotations

import time

import pytest

from roomscribe.emulator import EmulatorThread, FaultPlan
from roomscribe.emulator.faults import CYCLE_CLOSE_REASON, IDLE_CLOSE_REASON
from tests.support.emulator_sdk import SdkTranscriber, assert_transcribed_as_planned, chunk_boundary, script_pcm

KEY = "test-key"

MEETING = """\
Alice: Point one from Alice.
Bob: Reply one from Bob.
Alice: Point two, the budget.
Bob: Reply two, agreed.
Carol: A note from Carol.
Alice: Point three, the dates.
Bob: Reply three.
Carol: Closing note.
"""


def finish(sdk: SdkTranscriber, pusher=None, timeout: float = 60) -> None:
    if pusher is not None:
        pusher.join(timeout)
    sdk.close_stream()
    sdk.wait_for(lambda s: s.events("session_stopped"), timeout, "session_stopped")


def assert_one_diarization_session(emu, sdk) -> None:
    accepted = emu.record.accepted_connections()
    assert {dict(c.headers)["X-ConnectionId"] for c in accepted} == {sdk.session_id}
    assert emu.record.audio_session_ids() == [sdk.session_id]


def assert_audio_continuous(emu, sdk) -> None:
    assert emu.record.audio_bytes() == bytes(sdk.written)
    assert emu.record.replay_mismatches() == 0


# -- service-side closes the SDK survives -------------------------------------------------------------


@pytest.mark.parametrize(
    "plan, runtime_close",
    [
        (FaultPlan(), (1000, IDLE_CLOSE_REASON)),
        (FaultPlan(), (1011, "Internal server error")),
        (FaultPlan(close_after_seconds=0.8, close_code=1012, close_reason="Instance is shutting down"), None),
    ],
    ids=["idle-1000-runtime", "1011-runtime", "1012-planned"],
)
def test_service_close_gives_a_silent_reconnect_with_speakers_and_offsets_kept(plan, runtime_close):
    pcm, planned = script_pcm(MEETING)
    with EmulatorThread(plan, key=KEY) as emu, SdkTranscriber(emu.host_url, KEY) as sdk:
        sdk.start()
        pusher = sdk.push_in_background(pcm, speed=6)
        if runtime_close is not None:
            sdk.wait_for(lambda s: len(s.transcribed()) >= 2, 30, "two phrases")
            emu.close_connections(*runtime_close)
            sdk.wait_for(lambda s: len(s.transcribed()) >= 5, 30, "five phrases")
            emu.close_connections(*runtime_close)  # Carol (Guest-3) is heard first on this connection
        finish(sdk, pusher)
        assert_transcribed_as_planned(sdk.transcribed(), planned)
        assert [(c.reason, c.code) for c in sdk.canceled()] == [("EndOfStream", "NoError")]
        assert len(sdk.events("disconnected")) >= 1
        assert_one_diarization_session(emu, sdk)
        assert_audio_continuous(emu, sdk)
    closed = [c for c in emu.record.connections if c.closed_by == "service"]
    expected_code, expected_reason = runtime_close or (plan.close_code, plan.close_reason)
    assert closed and {(c.close_code, c.close_reason) for c in closed} == {(expected_code, expected_reason)}
    later_turns = [t for t in emu.record.turns if t.connection > 1]
    assert later_turns and all(t.base_offset > 0 for t in later_turns)  # replay starts at what was acknowledged


def test_idle_timeout_closes_a_connection_without_audio_and_the_sdk_comes_back():
    pcm, planned = script_pcm(MEETING)
    pause_at = chunk_boundary(planned[2].end + 0.8)  # the third phrase has ended, the fourth not begun
    with EmulatorThread(FaultPlan(idle_timeout_seconds=0.5), key=KEY) as emu, SdkTranscriber(emu.host_url, KEY) as sdk:
        sdk.start()
        sdk.push(pcm[:pause_at], speed=8)
        sdk.wait_for(lambda s: len(s.transcribed()) == 3, 30, "three phrases")
        emu.wait_for(lambda r: r.connections[0].closed_at, 10, "the idle close")
        time.sleep(0.3)  # the application keeps its pause a little longer
        sdk.push(pcm[pause_at:], speed=8)
        finish(sdk)
        assert_transcribed_as_planned(sdk.transcribed(), planned)
        assert_one_diarization_session(emu, sdk)
        assert_audio_continuous(emu, sdk)
    first = emu.record.connections[0]
    assert (first.close_code, first.close_reason, first.closed_by) == (1000, IDLE_CLOSE_REASON, "service")


def test_five_idle_closes_without_progress_make_the_sdk_stop_silently():
    # usp-protocol.md §7: every connection closed with 1000 and no progress -> after 5 the SDK gives up
    # without a canceled event. A paused client meets this after five idle timeouts in a row.
    pcm, planned = script_pcm("Alice: Before the pause\nBob: After the pause\n")
    pause_at = chunk_boundary(planned[0].end + 0.8)  # the first phrase has ended, the second not begun
    with EmulatorThread(FaultPlan(idle_timeout_seconds=0.3), key=KEY) as emu, SdkTranscriber(emu.host_url, KEY) as sdk:
        sdk.start()
        sdk.push(pcm[:pause_at])
        sdk.wait_for(lambda s: len(s.transcribed()) == 1, 30, "the first phrase")
        emu.wait_for(lambda r: len(r.connections) >= 5 and r.connections[4].closed_at, 20, "five idle closes")
        time.sleep(1.0)
        sdk.push(pcm[pause_at:])
        time.sleep(1.5)
        assert [e.text for e in sdk.transcribed()] == [planned[0].text]
        assert sdk.canceled() == []
        assert len(emu.record.connections) == 5  # no sixth attempt
        assert len(emu.record.raw_audio_bytes()) == pause_at  # nothing after the pause was ever sent
    assert all(c.close_reason == IDLE_CLOSE_REASON for c in emu.record.connections)


def test_forced_reconnect_cycle():
    pcm, planned = script_pcm(MEETING)
    with EmulatorThread(FaultPlan(reconnect_every_seconds=0.7), key=KEY) as emu, SdkTranscriber(emu.host_url, KEY) as sdk:
        sdk.start()
        sdk.push(pcm, speed=6)
        finish(sdk)
        assert_transcribed_as_planned(sdk.transcribed(), planned)
        assert_one_diarization_session(emu, sdk)
        assert_audio_continuous(emu, sdk)
    cycled = [c for c in emu.record.connections if c.close_reason == CYCLE_CLOSE_REASON]
    assert len(cycled) >= 2 and {c.close_code for c in cycled} == {1000}


# -- closes and refusals that end the session ---------------------------------------------------------


def test_unsupported_audio_format_is_closed_with_1007_and_canceled_as_bad_request():
    pcm, _ = script_pcm("Alice: Hello\n")
    with EmulatorThread(key=KEY) as emu, SdkTranscriber(emu.host_url, KEY, sample_rate=8000) as sdk:
        sdk.start()
        sdk.push(pcm[:32000])
        (canceled,) = sdk.wait_for(lambda s: s.canceled(), 30, "canceled")
        assert (canceled.reason, canceled.code) == ("Error", "BadRequest")
        assert "1007" in canceled.details and "8000 Hz" in canceled.details
    (connection,) = emu.record.connections
    assert connection.close_code == 1007 and connection.closed_by == "service"
    assert emu.record.turns[0].wav_format["sample_rate"] == 8000


@pytest.mark.parametrize(
    "code, reason, error", [(4429, "Too many requests", "TooManyRequests"), (1002, "Protocol error", "ConnectionFailure"),
                            (4000, "Bad client", "ConnectionFailure")],
)
def test_fatal_close_codes_cancel_without_reconnecting(code, reason, error):
    pcm, _ = script_pcm(MEETING)
    with EmulatorThread(key=KEY) as emu, SdkTranscriber(emu.host_url, KEY) as sdk:
        sdk.start()
        sdk.push(pcm[: len(pcm) // 2])
        sdk.wait_for(lambda s: s.transcribed(), 30, "a phrase")
        emu.close_connections(code, reason)
        (canceled,) = sdk.wait_for(lambda s: s.canceled(), 30, "canceled")
        assert (canceled.reason, canceled.code) == ("Error", error)
        assert f"Error code: {code}" in canceled.details and reason in canceled.details
        time.sleep(0.5)
        assert len(emu.record.connections) == 1  # no reconnect


def test_wrong_key_is_refused_with_401_and_canceled_as_authentication_failure():
    with EmulatorThread(key=KEY) as emu, SdkTranscriber(emu.host_url, "wrong-key") as sdk:
        sdk.start()
        sdk.push(bytes(32000))
        (canceled,) = sdk.wait_for(lambda s: s.canceled(), 30, "canceled")
        assert (canceled.reason, canceled.code) == ("Error", "AuthenticationFailure")
        assert "401" in canceled.details
    (connection,) = emu.record.connections
    assert connection.http_status == 401 and not connection.accepted
    assert dict(connection.headers)["Ocp-Apim-Subscription-Key"] == "***"


@pytest.mark.parametrize(
    "status, code, attempts",
    [(403, "AuthenticationFailure", 1), (429, "TooManyRequests", 5), (500, "ServiceError", 5),
     (503, "ServiceUnavailable", 5)],
)
def test_refused_upgrades_are_retried_as_the_sdk_does_then_canceled(status, code, attempts):
    with EmulatorThread(FaultPlan(refuse_status=status), key=KEY) as emu, SdkTranscriber(emu.host_url, KEY) as sdk:
        sdk.start()
        sdk.push(bytes(32000))
        (canceled,) = sdk.wait_for(lambda s: s.canceled(), 30, "canceled")
        assert (canceled.reason, canceled.code) == ("Error", code)
        assert f"({status})" in canceled.details
    assert [c.http_status for c in emu.record.connections] == [status] * attempts


def test_refusing_only_the_next_two_upgrades_is_survived():
    pcm, planned = script_pcm("Alice: Hello\nBob: Hi\n")
    with EmulatorThread(key=KEY) as emu, SdkTranscriber(emu.host_url, KEY) as sdk:
        emu.refuse_upgrades(503, count=2)
        sdk.start()
        sdk.push(pcm)
        finish(sdk)
        assert_transcribed_as_planned(sdk.transcribed(), planned)
    assert [c.http_status for c in emu.record.connections] == [503, 503, 101]


# -- results and acknowledgements ---------------------------------------------------------------------


def test_buffer_overflows_with_service_timeout_once_acknowledgements_stop():
    pcm, planned = script_pcm("Alice: Hello\n[silence 80]\n")
    first = chunk_boundary(planned[0].end + 1.0)
    with EmulatorThread(key=KEY) as emu, SdkTranscriber(emu.host_url, KEY) as sdk:
        sdk.start()
        sdk.push(pcm[:first])
        sdk.wait_for(lambda s: s.transcribed(), 30, "the phrase")
        emu.stop_acknowledging()
        sdk.push(pcm[first:], speed=40)
        canceled = sdk.wait_for(lambda s: s.canceled(), 30, "canceled")
        assert (canceled[0].reason, canceled[0].code) == ("Error", "ServiceTimeout")
        assert "client buffer exceeded maximum size" in canceled[0].details
    received = len(emu.record.raw_audio_bytes()) - emu.record.acknowledged_bytes()
    assert 60 * 32000 < received < 72 * 32000  # about 66 s of audio went unacknowledged


def test_an_error_phrase_makes_the_sdk_reconnect_and_the_phrase_still_comes_once():
    pcm, planned = script_pcm(MEETING)
    with EmulatorThread(FaultPlan(phrase_error_status="Error"), key=KEY) as emu, SdkTranscriber(emu.host_url, KEY) as sdk:
        sdk.start()
        sdk.push(pcm, speed=10)
        finish(sdk)
        assert_transcribed_as_planned(sdk.transcribed(), planned)
        assert [(c.reason, c.code) for c in sdk.canceled()] == [("EndOfStream", "NoError")]
        assert_audio_continuous(emu, sdk)
    first = emu.record.connections[0]
    assert first.closed_by == "client"  # the SDK dropped the socket itself after the error
    errors = [m for m in emu.record.sent("speech.phrase") if m.body["RecognitionStatus"] == "Error"]
    assert len(errors) == 1 and errors[0].connection == 1


@pytest.mark.parametrize("status, code", [("TooManyRequests", "TooManyRequests"), ("Error", "ServiceError")])
def test_five_error_phrases_in_a_row_cancel(status, code):
    # The SDK resumes a dropped connection only when new audio is written: keep the audio coming.
    pcm, _ = script_pcm("\n".join(f"Alice: Hello number {i}" for i in range(10)))
    with EmulatorThread(key=KEY) as emu, SdkTranscriber(emu.host_url, KEY) as sdk:
        emu.fail_next_phrases(status, count=5)
        sdk.start()
        pusher = sdk.push_in_background(pcm, speed=4)
        canceled = sdk.wait_for(lambda s: s.canceled(), 30, "canceled")
        assert (canceled[0].reason, canceled[0].code) == ("Error", code)
        assert sdk.transcribed() == []
        pusher.join(30)
    assert len(emu.record.accepted_connections()) == 5
    statuses = [m.body["RecognitionStatus"] for m in emu.record.sent("speech.phrase")]
    assert statuses.count(status) == 5 and "Success" not in statuses


def test_result_delay_holds_every_result_back():
    pcm, planned = script_pcm("Alice: Hello there\n", tail=0.3)
    with EmulatorThread(FaultPlan(result_delay_ms=800), key=KEY) as emu, SdkTranscriber(emu.host_url, KEY) as sdk:
        sdk.start()
        sdk.push(pcm[: chunk_boundary(planned[0].end)])
        emu.wait_for(lambda r: len(r.raw_audio_bytes()) == chunk_boundary(planned[0].end), 30, "all audio")
        took = sdk.stop()
        assert [e.text for e in sdk.transcribed()] == ["Hello there"]
        assert took >= 0.8
    end_frame = [f for f in emu.record.audio_frames() if f.kind == "end"][0]
    phrase = emu.record.phrases()[0]
    assert phrase.sent_at - end_frame.arrived_at >= 0.8


def test_network_delay_costs_a_round_trip_and_the_handshake_delay():
    pcm, planned = script_pcm("Alice: Hello there\n", tail=0.3)
    plan = FaultPlan(one_way_delay_ms=300, handshake_delay_ms=500)
    with EmulatorThread(plan, key=KEY) as emu, SdkTranscriber(emu.host_url, KEY) as sdk:
        started = time.monotonic()
        sdk.start()
        sdk.push(pcm[: chunk_boundary(planned[0].end)])
        (connected,) = sdk.wait_for(lambda s: s.events("connected"), 30, "connected")
        assert connected.at - started >= 0.5
        emu.wait_for(lambda r: len(r.raw_audio_bytes()) == chunk_boundary(planned[0].end), 30, "all audio")
        took = sdk.stop()  # the 0-byte frame travels 300 ms, the answer 300 ms back
        assert [e.text for e in sdk.transcribed()] == ["Hello there"]
        assert 0.6 <= took < 0.6 + 8.0
    end_frame = [f for f in emu.record.audio_frames() if f.kind == "end"][0]
    turn_end = emu.record.sent("turn.end")[0]
    assert turn_end.sent_at - end_frame.arrived_at >= 0.6


def test_network_delay_can_change_while_running():
    with EmulatorThread(key=KEY) as emu:
        emu.set_network_delay(one_way_ms=120, handshake_ms=40)
        assert (emu.faults.network.one_way_seconds, emu.faults.network.handshake_seconds) == (0.12, 0.04)
        emu.set_network_delay(one_way_ms=0)
        assert (emu.faults.network.one_way_seconds, emu.faults.network.handshake_seconds) == (0.0, 0.04)


# -- the plan itself ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "options, problem",
    [
        ({"idle_timeout_seconds": 0}, "idle_timeout_seconds"),
        ({"refuse_status": 302}, "refuse_status"),
        ({"phrase_error_status": "Oops"}, "phrase_error_status"),
        ({"one_way_delay_ms": -1}, "one_way_delay_ms"),
        ({"close_code": 999}, "close_code"),
    ],
)
def test_fault_plan_refuses_nonsense(options, problem):
    with pytest.raises(ValueError, match=problem):
        FaultPlan(**options)


def test_fault_plan_defaults_behave_like_the_service():
    plan = FaultPlan()
    assert (plan.idle_timeout_seconds, plan.reconnect_every_seconds) == (300.0, 600.0)
    assert plan.refuse_status is None and plan.acknowledge and plan.one_way_delay_ms == 0


def test_a_muted_connection_is_a_black_hole_the_sdk_does_not_notice_and_a_new_one_works():
    pcm, planned = script_pcm("Alice: Before the drop.\nBob: Said into the hole.\n")
    first = chunk_boundary(planned[0].end + 1.0)
    with EmulatorThread(key=KEY) as emu:
        with SdkTranscriber(emu.host_url, KEY) as sdk:
            sdk.start()
            sdk.push(pcm[:first])
            sdk.wait_for(lambda s: s.transcribed(), 30, "the first phrase")
            received = len(emu.record.raw_audio_bytes())
            emu.mute_connections()
            sdk.push(pcm[first:], speed=10)
            time.sleep(2.0)
            assert [e.text for e in sdk.transcribed()] == [planned[0].text]  # nothing answered
            assert not sdk.events("disconnected") and not sdk.canceled()  # the SDK notices nothing
            assert len(emu.record.raw_audio_bytes()) == received  # nothing sent into the hole arrived
        with SdkTranscriber(emu.host_url, KEY) as again:  # a new connection gets through
            again.start()
            again.push(pcm)
            again.wait_for(lambda s: len(s.transcribed()) == 2, 30, "both phrases on a new connection")
