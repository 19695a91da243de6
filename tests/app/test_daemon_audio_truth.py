"""The state tells the truth about the microphone, and speech from `transcribing` on is sent whole.

The real microphone path: paplay → PulseAudio null sink → ALSA → PortAudio → daemon → real SDK →
emulator. A capture stream on this sink takes 1.3-1.9 s to deliver its first chunk, the kind of
device a room can have: the daemon must not say `transcribing` before audio flows.
"""

from __future__ import annotations

import time

import jinja2
import pytest

from roomscribe.config import Settings, settings_from_data
from roomscribe.core.records import from_iso_utc
from tests.support.daemon_harness import DaemonThread, Subscriber, write_script_wav, TONE_SPEECH
from tests.support.notify_socket import NotifySocket
from tests.support.pulse import pulse_available
from tests.support.pulse import pulse  # noqa: F401  (fixture: a private PulseAudio per test)

pytestmark = [
    pytest.mark.skipif(not pulse_available(), reason="PulseAudio tools are not installed (scripts/test.sh installs them)"),
    pytest.mark.contention,
]

# How far a first utterance's duration and start may be from what was played: the bound.
TOLERANCE_S = 0.1


@pytest.fixture
def notify(monkeypatch):
    sock = NotifySocket()
    for key, value in sock.env().items():
        monkeypatch.setenv(key, value)
    try:
        yield sock
    finally:
        sock.close()


def mic_settings(tmp_path, broker, emulator, device="default") -> Settings:
    return settings_from_data(
        {
            "room": "microom",
            "mqtt": {"host": "127.0.0.1", "port": broker.port, "outbox_path": str(tmp_path / "outbox.sqlite3")},
            "speech": {"host": emulator.host_url, "key": "test-key"},
            "audio": {"source": "microphone", "device": device, **TONE_SPEECH},
        }
    )


def states(sub: Subscriber) -> list[dict]:
    return sub.payloads("meeting/state")


def latest_state(sub: Subscriber) -> dict | None:
    found = states(sub)
    return found[-1] if found else None


def wait_state(sub: Subscriber, state: str, after: int = 0, timeout: float = 30) -> dict:
    """The first state message `state` from index `after` on, while it is still the latest."""
    def match(s):
        found = states(s)[after:]
        return next((m for m in found if m["state"] == state), None) if found and found[-1]["state"] == state else None

    return sub.wait_for(match, timeout, f"state {state}")


def wait_audio(sub: Subscriber, state: str, audio: str, after: int = 0, timeout: float = 30) -> dict:
    """The first state message with this state and audio status from index `after` on."""
    def match(s):
        return next((m for m in states(s)[after:] if m["state"] == state and m["audio"]["status"] == audio), None)

    return sub.wait_for(match, timeout, f"state {state} with audio {audio}")


def microphone_problem(sub: Subscriber) -> str:
    """What Home Assistant's "Microphone" problem sensor shows, by rendering its discovery template with Jinja2."""
    config = next(p for p in sub.payloads("homeassistant/binary_sensor/roomscribe_microom_microphone/config"))
    assert config["device_class"] == "problem" and config["state_topic"] == "meeting/state"
    return jinja2.Template(config["value_template"]).render(value_json=latest_state(sub))


def assert_played_whole(utterance: dict, plan, played_at: float) -> None:
    spoken = plan.end - plan.start
    assert abs(utterance["duration_ms"] / 1000 - spoken) <= TOLERANCE_S, (utterance, spoken)
    assert abs(from_iso_utc(utterance["start"]) - (played_at + plan.start)) <= TOLERANCE_S, utterance


def test_transcribing_waits_for_audio_and_speech_from_then_on_is_sent_whole(tmp_path, mosquitto, emulator, pulse, notify):
    wav, planned = write_script_wav(tmp_path, "Guest-1: Right at the start of the meeting.\n")
    sub = Subscriber("127.0.0.1", mosquitto.port)
    with DaemonThread(mic_settings(tmp_path, mosquitto, emulator)):
        transcribing = wait_state(sub, "transcribing", timeout=30)
        played_at = time.time()  # speech starts as soon as the state says so
        pulse.play(wav).wait(30)
        got = sub.wait_for(lambda s: s.payloads("meeting/transcript"), 30, "the first utterance")
        assert microphone_problem(sub) == "OFF"
    published = states(sub)
    before = published[: published.index(transcribing)]
    # While the device started, the state said so: no audio, waiting for the first chunk; never transcribing.
    waiting = [m for m in before if m["state"] == "no_audio"]
    assert waiting and all(m["audio"]["status"] == "waiting" for m in waiting)
    assert any("is open; no audio delivered yet" in m["detail"] for m in waiting), waiting
    assert transcribing["audio"]["status"] == "flowing"
    assert [u["text"] for u in got] == [planned[0].text]
    assert_played_whole(got[0], planned[0], played_at)
    status_lines = [m.get("STATUS") for m in notify.messages("STATUS")]
    assert any(s.startswith("no_audio: no audio:") for s in status_lines), status_lines
    assert any(s == "transcribing" for s in status_lines)
    sub.close()


def test_the_first_utterance_after_a_resume_that_follows_an_idle_spell_is_whole(tmp_path, mosquitto, emulator, pulse):
    wav, planned = write_script_wav(tmp_path, "Guest-1: Back from the break, the first words count.\n")
    sub = Subscriber("127.0.0.1", mosquitto.port)
    with DaemonThread(mic_settings(tmp_path, mosquitto, emulator)):
        wait_state(sub, "transcribing", timeout=30)
        sub.publish("meeting/pause", "")
        paused = wait_state(sub, "paused")
        time.sleep(3.0)  # an idle spell: nothing played, the sink delivers silence (or sparsely)
        count = len(states(sub))
        sub.publish("meeting/resume", "")
        wait_state(sub, "transcribing", after=count)
        played_at = time.time()
        pulse.play(wav).wait(30)
        got = sub.wait_for(lambda s: s.payloads("meeting/transcript"), 30, "the utterance after the resume")
    assert paused["audio"]["status"] == "flowing"
    assert [u["text"] for u in got] == [planned[0].text]
    assert_played_whole(got[0], planned[0], played_at)
    sub.close()


def test_an_unplugged_device_is_told_by_state_home_assistant_and_status_until_audio_flows_again(
    tmp_path, mosquitto, emulator, pulse, notify
):
    wav, planned = write_script_wav(tmp_path, "Guest-1: Still here after the sound server came back.\n")
    sub = Subscriber("127.0.0.1", mosquitto.port)
    with DaemonThread(mic_settings(tmp_path, mosquitto, emulator)) as runner:
        wait_state(sub, "transcribing", timeout=30)
        count = len(states(sub))
        pulse.kill()
        lost = wait_audio(sub, "no_audio", "lost", after=count, timeout=20)
        assert lost["audio"]["status"] == "lost" and lost["audio"]["detail"] in lost["detail"]
        assert microphone_problem(sub) == "ON"
        assert runner.daemon.diagnostics().gate.open is False  # the gate closed: nothing is claimed to flow
        notify.wait_until(lambda m: (m.get("STATUS") or "").startswith("no_audio: no audio:"), 10,
                          description="STATUS no_audio")
        count = len(states(sub))
        pulse.start()
        back = wait_state(sub, "transcribing", after=count, timeout=40)
        assert microphone_problem(sub) == "OFF"
        played_at = time.time()
        pulse.play(wav).wait(30)
        got = sub.wait_for(lambda s: s.payloads("meeting/transcript"), 30, "an utterance after recovery")
    reopened = states(sub)[count : states(sub).index(back)]
    assert [m["audio"]["status"] for m in reopened if m["state"] == "no_audio"][-1] == "waiting"
    assert got[0]["text"] == planned[0].text and got[0]["speaker_epoch"] == 1  # same session, labels kept
    assert_played_whole(got[0], planned[0], played_at)
    events = [e["kind"] for e in sub.payloads("meeting/event")]
    assert "audio_source_lost" in events and events.count("audio_source_opened") >= 2
    sub.close()


def test_a_missing_device_never_says_transcribing(tmp_path, mosquitto, emulator, pulse, notify):
    sub = Subscriber("127.0.0.1", mosquitto.port)
    with DaemonThread(mic_settings(tmp_path, mosquitto, emulator, device="no such microphone")):
        notify.wait_for("READY", "1", timeout=20)
        state = wait_audio(sub, "no_audio", "lost", timeout=20)
        time.sleep(1.0)  # a retry or two
        assert all(m["state"] != "transcribing" for m in states(sub))
        assert microphone_problem(sub) == "ON"
    assert state["audio"]["status"] == "lost" and "no capture device matches" in state["audio"]["detail"]
    assert any("no capture device matches" in (m.get("STATUS") or "") for m in notify.messages("STATUS"))
    sub.close()
