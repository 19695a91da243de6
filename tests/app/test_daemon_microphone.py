"""The daemon on the real microphone path: paplay → PulseAudio null sink → ALSA → PortAudio → daemon."""

from __future__ import annotations

import pytest

from roomscribe.config import Settings, settings_from_data
from tests.support.daemon_harness import DaemonThread, Subscriber, write_script_wav, TONE_SPEECH
from tests.support.pulse import pulse_available
from tests.support.pulse import pulse  # noqa: F401  (fixture: a private PulseAudio per test)

pytestmark = pytest.mark.skipif(not pulse_available(), reason="PulseAudio tools are not installed (scripts/test.sh installs them)")

MEETING = """\
Guest-1: Good morning, can everyone hear me?
Guest-2: Yes, loud and clear.
Guest-1: Then let us start with the budget.
"""


def mic_settings(tmp_path, broker, emulator) -> Settings:
    return settings_from_data(
        {
            "room": "microom",
            "mqtt": {"host": "127.0.0.1", "port": broker.port, "outbox_path": str(tmp_path / "outbox.sqlite3")},
            "speech": {"host": emulator.host_url, "key": "test-key"},
            "audio": {"source": "microphone", "device": "default", **TONE_SPEECH},
        }
    )


def test_meeting_through_the_microphone(tmp_path, mosquitto, emulator, pulse):
    wav, planned = write_script_wav(tmp_path, MEETING)
    sub = Subscriber("127.0.0.1", mosquitto.port)
    with DaemonThread(mic_settings(tmp_path, mosquitto, emulator)):
        sub.wait_for(lambda s: [e for e in s.payloads("meeting/event") if e["kind"] == "audio_source_opened"], 20, "mic open")
        sub.wait_for(lambda s: any(m["state"] == "transcribing" for m in s.payloads("meeting/state")), 20, "transcribing")
        pulse.play(wav).wait(30)
        got = sub.wait_for(lambda s: (lambda t: t if len(t) >= 3 else None)(s.payloads("meeting/transcript")), 30, "3 utterances")
    assert [(u["speaker"], u["text"]) for u in got] == [(f"Guest-{p.speaker_index + 1}", p.text) for p in planned]
    durations = [u["duration_ms"] for u in got]
    for utterance, plan in zip(got, planned):
        # wall-clock spans from PortAudio capture times match the spoken lengths
        assert abs(utterance["duration_ms"] / 1000 - (plan.end - plan.start)) < 0.1, durations
    sub.close()


def test_device_loss_is_reported_and_recovered(tmp_path, mosquitto, emulator, pulse):
    wav, planned = write_script_wav(tmp_path, "Guest-1: Still here after the sound server came back.\n")
    sub = Subscriber("127.0.0.1", mosquitto.port)

    def kinds(s, kind):
        return [e for e in s.payloads("meeting/event") if e["kind"] == kind]

    with DaemonThread(mic_settings(tmp_path, mosquitto, emulator)) as runner:
        sub.wait_for(lambda s: kinds(s, "audio_source_opened"), 20, "mic open")
        pulse.kill()
        lost = sub.wait_for(lambda s: kinds(s, "audio_source_lost"), 20, "device lost")
        # The daemon keeps running, and says that nothing is captured (tests/app/test_daemon_audio_truth.py has more).
        assert runner.daemon.diagnostics().state == "no_audio"
        pulse.start()
        sub.wait_for(lambda s: len(kinds(s, "audio_source_opened")) >= 2, 40, "mic reopened")
        pulse.play(wav).wait(30)
        got = sub.wait_for(lambda s: s.payloads("meeting/transcript"), 30, "an utterance after recovery")
    assert lost[0]["level"] == "error" and lost[0]["detail"]["detail"]
    assert got[0]["text"] == planned[0].text
    sub.close()
