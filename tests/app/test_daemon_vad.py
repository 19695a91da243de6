"""The daemon with silence suppression on: real pymicro-vad, real Speech SDK, the emulator, Mosquitto."""

from __future__ import annotations

import json
import time

import pytest

from roomscribe.config import settings_from_data
from roomscribe.emulator.faults import FaultPlan
from roomscribe.emulator.thread import EmulatorThread
from tests.outputs.mqtt.conftest import validate
from tests.support.daemon_harness import DaemonThread, Subscriber, write_script_wav

# A room where nobody speaks: tone speech is no voice to the detector, and the rest is silence.
EMPTY_ROOM = "[silence 9.0]\n"


def vad_settings(tmp_path, broker, emulator, wav, **vad):
    return settings_from_data(
        {
            "room": "vadroom",
            "mqtt": {"host": "127.0.0.1", "port": broker.port, "outbox_path": str(tmp_path / "outbox.sqlite3"),
                     "discovery": False},
            "speech": {"host": emulator.host_url, "key": "test-key"},
            "audio": {"source": "file", "file": str(wav), "vad": {"enabled": True, **vad}},
        }
    )


def idle_closes(emulator) -> int:
    return sum(1 for c in emulator.record.connections if c.close_code == 1000 and "idle" in (c.close_reason or ""))


@pytest.mark.parametrize("keepalive, closes_expected", [(1.0, False), (0, True)], ids=["keep-alive", "none"])
def test_a_silent_room_sends_next_to_nothing_and_the_keep_alive_keeps_the_session(
    tmp_path, mosquitto, keepalive, closes_expected
):
    wav, _ = write_script_wav(tmp_path, EMPTY_ROOM)
    sub = Subscriber("127.0.0.1", mosquitto.port)
    with EmulatorThread(FaultPlan(idle_timeout_seconds=3.0), key="test-key") as emulator:
        settings = vad_settings(tmp_path, mosquitto, emulator, wav, keepalive_seconds=keepalive)
        with DaemonThread(settings):
            sub.wait_for(lambda s: [e for e in s.payloads("meeting/event") if e["kind"] == "audio_source_ended"],
                         30, "the end of the file")
            sub.publish("meeting/stop")
            ended = sub.wait_for(
                lambda s: next((e for e in s.payloads("meeting/event") if e["kind"] == "meeting_ended"), None),
                20, "meeting_ended")
            stats = sub.wait_for(
                lambda s: [m for m in s.payloads("meeting/stats") if m["audio_sent_meeting_s"] is None], 10, "stats")
        received = emulator.record.audio_bytes()
        closes = idle_closes(emulator)
        sessions = emulator.record.audio_session_ids()
    # Nothing of the room was sent: only keep-alive silence, one SDK frame at a time.
    assert not any(received)
    assert ended["detail"]["audio_sent_s"] == pytest.approx(len(received) / 32000, abs=0.11)
    assert ended["detail"]["duration_s"] >= 9.0
    # The retained stats say the same: what was sent today, nothing sending now, no meeting after the stop.
    for message in sub.payloads("meeting/stats"):
        validate("stats", json.dumps(message).encode())
    assert stats[-1]["audio_sent_today_s"] == pytest.approx(len(received) / 32000, abs=0.11)
    assert stats[-1]["sending"] is False and stats[-1]["outbox_waiting"] == 0
    if closes_expected:
        assert closes >= 1 and len(received) == 0
    else:
        assert closes == 0, "the keep-alive kept the idle connection open"
        assert 3 <= len(received) // 3200 <= 12  # about one 100 ms frame a second for 9 s
    assert len(sessions) <= 1  # one diarization session: the labels would carry on
    sub.close()


# -- a voiced meeting: real speech the detector hears, tone speech the emulator decodes under it --------

VOICED_MEETING = """\
Guest-1: Good morning everyone, let us begin the weekly review.
[silence 3.0]
Guest-2: Thanks. The numbers for March look fine to me.
[silence 2.0]
Guest-1: SECRET the merger is off, tell nobody at all.
[silence 2.0]
Guest-2: Back to the agenda, item two is the budget.
[silence 4.0]
"""
SPEED = 1.0


def write_voiced_wav(tmp_path):
    from roomscribe.emulator.script import write_wav
    from roomscribe.emulator.voiced import voiced_meeting

    pcm, planned = voiced_meeting(VOICED_MEETING)
    path = tmp_path / "voiced.wav"
    write_wav(path, pcm)
    return path, planned


def at_audio_time(source, seconds: float) -> None:
    time.sleep(max(0.0, source.started_at + seconds / SPEED - time.time()))


@pytest.mark.contention
def test_with_silence_suppression_a_meeting_bills_its_speech_keeps_every_word_and_the_pause_keeps_the_secret(
    tmp_path, mosquitto, emulator
):
    wav, planned = write_voiced_wav(tmp_path)
    secret = planned[2]
    sub = Subscriber("127.0.0.1", mosquitto.port)
    with DaemonThread(vad_settings(tmp_path, mosquitto, emulator, wav)) as run:
        source = run.daemon.source
        sub.wait_for(lambda s: source.started_at, 20, "source start")
        at_audio_time(source, planned[1].end + 0.9)  # the phrase before it has ended and been sent
        sub.publish("meeting/pause", json.dumps({"request_id": "p1"}))
        sub.wait_for(lambda s: [m for m in s.payloads("meeting/state") if m.get("request_id") == "p1"], 10, "paused")
        at_audio_time(source, secret.end + 0.7)
        sub.publish("meeting/resume", json.dumps({"request_id": "r1"}))
        try:
            got = sub.wait_for(lambda s: (lambda t: t if len(t) >= 3 else None)(s.payloads("meeting/transcript")), 40,
                               "three utterances")
        except AssertionError:
            from roomscribe.demo.privacy_audit import account
            for p in account(emulator.record.raw_audio_bytes(), wav.read_bytes()[44:]):
                print("piece", p.received_at/32000, p.length/32000, None if p.captured_at is None else p.captured_at/32000)
            for m in sub.messages: print("msg", round(m[0]-source.started_at, 2), m[1], m[2][:80])
            raise
        at_audio_time(source, planned[-1].end + 3.0)
        sub.publish("meeting/stop")
        ended = sub.wait_for(
            lambda s: next((e for e in s.payloads("meeting/event") if e["kind"] == "meeting_ended"), None), 20, "end")
        received = emulator.record.raw_audio_bytes()
        t0 = source.started_at
    from roomscribe.demo.privacy_audit import leak, sent_seconds
    from roomscribe.emulator.decode import decode

    # Every word of what was said outside the pause, with true wall-clock times and the same labels.
    assert [(u["speaker"], u["text"]) for u in got] == [
        (f"Guest-{p.speaker_index + 1}", p.text) for p in (planned[0], planned[1], planned[3])]
    for utterance, plan in zip(got, (planned[0], planned[1], planned[3])):
        assert abs(_epoch(utterance["start"]) - (t0 + plan.start)) < 0.1
        assert abs(_epoch(utterance["end"]) - (t0 + plan.end)) < 0.1
    assert {u["speaker_epoch"] for u in got} == {1}
    # The secret: not in any output, not decodable from what the service got, and no byte of its span sent.
    assert all("SECRET" not in p.text for p in decode(received))
    captured = wav.read_bytes()[44:]
    problem = leak(received, captured, secret.start - 0.4, secret.end + 0.4)
    assert problem is None, problem
    # Billed: the speech with its pre-roll, hangover and pause tail, not the silences between.
    speech_s = sum(p.end - p.start for p in (planned[0], planned[1], planned[3]))
    sound_s, silence_s = sent_seconds(received, captured)
    sent_s = len(received) / 32000
    meeting_s = len(captured) / 32000
    assert sent_s <= speech_s * 1.6, (sent_s, speech_s)  # voiced lead/trail + pre-roll + hangover + one tail
    assert sent_s < 0.6 * meeting_s
    assert ended["detail"]["audio_sent_s"] == pytest.approx(sent_s, abs=0.2)
    sub.close()


def _epoch(iso: str) -> float:
    from roomscribe.core.records import from_iso_utc

    return from_iso_utc(iso)
