"""The daemon with silence suppression on: real pymicro-vad, real Speech SDK, the emulator, Mosquitto."""

from __future__ import annotations

import json

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
        with DaemonThread(settings) as runner:
            sub.wait_for(lambda s: [e for e in s.payloads("meeting/event") if e["kind"] == "audio_source_ended"],
                         30, "the end of the file")
            daemon = runner.daemon
            runner.call(daemon._command, "stop", None)
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
