"""The cloud session across pauses and failures: idle close, release after N minutes, canceled sessions."""

from __future__ import annotations

import json
import re
import time

from roomscribe.emulator.faults import FaultPlan
from roomscribe.emulator.thread import EmulatorThread
from tests.support.daemon_harness import DaemonThread, Subscriber, write_script_wav
from tests.app.test_daemon_meeting import make_settings
from tests.support.archive_check import assert_archive_holds_exactly, records

CONVERSATION = "\n".join(
    f"Guest-{1 + i % 2}: Sentence number {i} of the long meeting." for i in range(12)
)


def states(sub: Subscriber) -> list[dict]:
    return sub.payloads("meeting/state")


def events(sub: Subscriber, kind: str) -> list[dict]:
    return [e for e in sub.payloads("meeting/event") if e.get("kind") == kind]


def wait_state(sub: Subscriber, state: str, after: int = 0, timeout: float = 30) -> dict:
    return sub.wait_for(
        lambda s: next((m for m in states(s)[after:] if m["state"] == state), None), timeout, f"state {state}"
    )


def transcripts(sub: Subscriber) -> list[dict]:
    return sub.payloads("meeting/transcript")


def test_idle_close_during_a_long_pause_keeps_the_session_and_the_labels(tmp_path, mosquitto):
    wav, _ = write_script_wav(tmp_path, CONVERSATION)
    with EmulatorThread(FaultPlan(idle_timeout_seconds=1.5), key="test-key") as emulator:
        sub = Subscriber("127.0.0.1", mosquitto.port)
        settings = make_settings(tmp_path, mosquitto, emulator, wav)
        with DaemonThread(settings):
            sub.wait_for(lambda s: len(transcripts(s)) >= 2, 30, "two utterances")
            sub.publish("meeting/pause")
            wait_state(sub, "paused")
            # The service closes the idle socket (code 1000, the real idle reason); the SDK reconnects.
            emulator.wait_for(
                lambda rec: any(c.close_code == 1000 and "idle" in (c.close_reason or "") for c in rec.connections),
                10,
                "idle close",
            )
            time.sleep(1.0)
            n = len(transcripts(sub))
            sub.publish("meeting/resume")
            sub.wait_for(lambda s: len(transcripts(s)) >= n + 3, 40, "utterances after the resume")
        got = transcripts(sub)
        sessions = {t.audio_session_id for t in emulator.record.turns}
    assert len(sessions) == 1, "one diarization session across the idle close"
    assert {u["speaker_epoch"] for u in got} == {1}
    numbered = [(re.search(r"number (\d+) ", u["text"]), u) for u in got]
    assert len([m for m, _ in numbered if m]) >= 4
    for match, u in numbered:  # Guest-1 says the even sentences, Guest-2 the odd ones, before and after
        if match:  # (the sentence cut by the pause may end before its number)
            assert u["speaker"] == f"Guest-{1 + int(match.group(1)) % 2}", u
    assert not events(sub, "speaker_epoch_changed")
    sub.close()


def test_release_after_a_long_pause_starts_a_new_speaker_epoch(tmp_path, mosquitto, emulator):
    wav, _ = write_script_wav(tmp_path, CONVERSATION)
    sub = Subscriber("127.0.0.1", mosquitto.port)
    settings = make_settings(tmp_path, mosquitto, emulator, wav, release_after_minutes=0.02)
    with DaemonThread(settings):
        sub.wait_for(lambda s: len(transcripts(s)) >= 2, 30, "two utterances")
        sub.publish("meeting/pause")
        wait_state(sub, "paused")
        sub.wait_for(lambda s: events(s, "session_released"), 10, "session released")
        sub.publish("meeting/resume", json.dumps({"request_id": "back"}))
        sub.wait_for(lambda s: any(u["speaker_epoch"] == 2 for u in transcripts(s)), 30, "epoch 2 utterance")
    assert events(sub, "speaker_epoch_changed")
    before = [u for u in transcripts(sub) if u["speaker_epoch"] == 1]
    after = [u for u in transcripts(sub) if u["speaker_epoch"] == 2]
    assert before and after
    # A new diarization session numbers speakers again from the first one it hears.
    assert after[0]["speaker"] == "Guest-1"
    assert [u["seq"] for u in transcripts(sub)] == list(range(1, len(transcripts(sub)) + 1))
    assert len({t.audio_session_id for t in emulator.record.turns}) == 2
    # The archive holds exactly what was published, and the meeting's pause and both speaker epochs.
    assert_archive_holds_exactly(tmp_path / "journal.sqlite3", lambda: transcripts(sub))
    [record] = records(tmp_path / "journal.sqlite3")
    assert [epoch for epoch, _ in record.epochs] == [1, 2]
    assert len(record.pauses) == 1 and record.pauses[0].end is not None
    assert record.pauses[0].start < record.epochs[1][1]  # the new epoch began after the pause
    assert record.meeting.end is not None and record.meeting.paused_seconds > 0
    assert record.meeting.audio_seconds > 0
    sub.close()


def test_canceled_session_is_replaced(tmp_path, mosquitto, emulator):
    wav, _ = write_script_wav(tmp_path, CONVERSATION)
    sub = Subscriber("127.0.0.1", mosquitto.port)
    with DaemonThread(make_settings(tmp_path, mosquitto, emulator, wav)):
        sub.wait_for(lambda s: len(transcripts(s)) >= 1, 30, "an utterance")
        emulator.close_connections(code=1007, reason="bad data")  # canceled BadRequest, no SDK reconnect
        lost = sub.wait_for(lambda s: events(s, "session_lost"), 10, "session_lost event")[0]
        wait_state(sub, "recovering")
        sub.wait_for(lambda s: any(u["speaker_epoch"] == 2 for u in transcripts(s)), 30, "utterance in epoch 2")
        emulator.close_connections(code=4429, reason="too many")  # canceled TooManyRequests
        sub.wait_for(lambda s: any(u["speaker_epoch"] == 3 for u in transcripts(s)), 40, "utterance in epoch 3")
    assert lost["detail"]["code"] == "BadRequest"
    assert any(e["detail"]["code"] == "TooManyRequests" for e in events(sub, "session_lost"))
    assert [m["state"] for m in states(sub)].count("recovering") >= 2
    sub.close()


def test_authentication_failure_waits_then_recovers(tmp_path, mosquitto, emulator):
    wav, _ = write_script_wav(tmp_path, CONVERSATION)
    emulator.refuse_upgrades(401, count=1)
    sub = Subscriber("127.0.0.1", mosquitto.port)
    settings = make_settings(tmp_path, mosquitto, emulator, wav, auth_retry_minutes=0.03)
    with DaemonThread(settings):
        failed = wait_state(sub, "failed")
        time.sleep(0.5)
        attempts_while_failed = len(emulator.record.connections)
        sub.wait_for(lambda s: transcripts(s), 40, "an utterance after the retry")
    assert "AuthenticationFailure" in failed["detail"] or failed.get("error_code") == "AuthenticationFailure"
    assert attempts_while_failed <= 2, "no hot retry loop on an authentication failure"
    sub.close()


def test_repeated_idle_closes_during_a_pause_release_the_session_before_the_sdk_gives_up(tmp_path, mosquitto):
    """The SDK stops silently after 5 idle closes in a row; the daemon releases the session after 3."""
    wav, _ = write_script_wav(tmp_path, CONVERSATION)
    with EmulatorThread(FaultPlan(idle_timeout_seconds=0.6), key="test-key") as emulator:
        sub = Subscriber("127.0.0.1", mosquitto.port)
        with DaemonThread(make_settings(tmp_path, mosquitto, emulator, wav)):
            sub.wait_for(lambda s: len(transcripts(s)) >= 1, 30, "an utterance")
            sub.publish("meeting/pause")
            released = sub.wait_for(lambda s: events(s, "session_released"), 20, "session released")[0]
            sub.publish("meeting/resume")
            sub.wait_for(lambda s: any(u["speaker_epoch"] == 2 for u in transcripts(s)), 30, "epoch 2 utterance")
    assert "idle connection" in released["detail"]["reason"]
    sub.close()
