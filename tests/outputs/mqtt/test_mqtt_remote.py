"""`roomscribe pause|resume|start|stop|status` against a real Mosquitto and a link-driven stand-in daemon."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest
import yaml

from roomscribe.system import exitcodes
from roomscribe.core.records import AudioStats, Event, StateMessage
from roomscribe.outputs.mqtt.commands import Command
from roomscribe.outputs.mqtt.link import MqttLink
from roomscribe.outputs.journal.journal import Journal
from tests.outputs.mqtt.conftest import ROOM, make_settings
from tests.support.mosquitto import Mosquitto, retained


class StandInDaemon:
    """Answers commands the way the owner does: the new true state echoing the request_id, or a refusal."""

    def __init__(self, settings):
        self.state = "transcribing"
        self.link = MqttLink(settings, on_command=self.on_command, transcripts=Journal.from_settings(settings).deliveries)

    def on_command(self, command: Command) -> None:
        if command.name == "resume" and self.state != "paused":
            self.link.publish_event(Event("command_refused", {"command": "resume", "reason": "not paused"},
                                          time.time(), ROOM, command.request_id, "warning"))
            return
        self.state = {"pause": "paused", "resume": "transcribing", "start": "transcribing", "stop": "idle"}[command.name]
        self.link.publish_state(StateMessage(self.state, time.time(), "m1", 1, command.request_id, "", ROOM))


@pytest.fixture
def daemon(mosquitto, tmp_path):
    stand_in = StandInDaemon(make_settings(mosquitto, tmp_path))
    stand_in.link.publish_state(StateMessage("transcribing", time.time(), "m1", 1, None, "", ROOM))
    stand_in.link.start()
    deadline = time.monotonic() + 20
    while not stand_in.link.connected:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    yield stand_in
    stand_in.link.stop()


def write_config(tmp_path, broker: Mosquitto, **mqtt) -> str:
    path = tmp_path / "config.yaml"
    options = {"host": broker.host, "port": broker.port, **mqtt}
    path.write_text(yaml.safe_dump({"room": ROOM, "mqtt": options}))
    return str(path)


def roomscribe(*args: str, timeout: float = 30) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "roomscribe", *args], capture_output=True, text=True, timeout=timeout)


def test_pause_prints_the_state_that_echoes_its_request_id(daemon, mosquitto, tmp_path):
    config = write_config(tmp_path, mosquitto)
    done = roomscribe("pause", "-c", config, "--request-id", "cli-test-1")
    assert done.returncode == exitcodes.OK, done.stderr
    assert "state: paused" in done.stdout and "request cli-test-1" in done.stdout
    done = roomscribe("resume", "-c", config, "--json")
    assert done.returncode == exitcodes.OK, done.stderr
    answer = json.loads(done.stdout)
    assert answer["state"] == "transcribing" and answer["request_id"].startswith("cli-")


def test_a_refused_command_prints_the_reason_and_fails(daemon, mosquitto, tmp_path):
    done = roomscribe("resume", "-c", write_config(tmp_path, mosquitto))
    assert done.returncode == exitcodes.FAILURE
    assert "refused resume: not paused" in done.stdout


def test_status_prints_state_availability_and_what_was_sent(daemon, mosquitto, tmp_path):
    daemon.link.publish_stats(AudioStats(sending=True, sent_today_s=754.2, sent_meeting_s=120.0, audio_overflows=0,
                                         at=time.time(), room=ROOM))
    deadline = time.monotonic() + 10
    while retained(mosquitto, "meeting/stats") is None:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    done = roomscribe("status", "-c", write_config(tmp_path, mosquitto))
    assert done.returncode == exitcodes.OK, done.stderr
    assert "availability: online" in done.stdout and "state: transcribing" in done.stdout
    assert "audio sent: today 12.6 min  this meeting 2.0 min  sending speech now" in done.stdout
    as_json = json.loads(roomscribe("status", "-c", write_config(tmp_path, mosquitto), "--json").stdout)
    assert as_json["stats"]["audio_sent_today_s"] == 754.2


def test_no_daemon_means_unavailable(mosquitto, tmp_path):
    config = write_config(tmp_path, mosquitto)
    done = roomscribe("stop", "-c", config, "--timeout", "1")
    assert done.returncode == exitcodes.UNAVAILABLE
    assert "no answer to stop" in done.stderr
    assert roomscribe("status", "-c", config, "--timeout", "1").returncode == exitcodes.UNAVAILABLE


def test_no_broker_means_unavailable(tmp_path):
    broker = Mosquitto(tmp_path)  # never started: nothing listens on its port
    done = roomscribe("pause", "-c", write_config(tmp_path, broker), "--timeout", "2")
    assert done.returncode == exitcodes.UNAVAILABLE
    assert "cannot connect" in done.stderr


def test_configuration_problems_exit_with_config(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("mqtt:\n  prot: 1883\n")
    done = roomscribe("pause", "-c", str(bad))
    assert done.returncode == exitcodes.CONFIG and "mqtt.prot" in done.stderr
    assert roomscribe("status", "-c", str(tmp_path / "missing.yaml")).returncode == exitcodes.CONFIG


def test_refused_credentials_exit_with_config(tmp_path):
    broker = Mosquitto(tmp_path, users={"room": "right"}).start()
    try:
        done = roomscribe("status", "-c", write_config(tmp_path, broker, username="room", password="wrong"))
        assert done.returncode == exitcodes.CONFIG
        assert "refused the connection" in done.stderr and "wrong" not in done.stderr
    finally:
        broker.stop()


def test_the_remote_module_is_cheap_to_import():
    code = "import sys, roomscribe.outputs.mqtt.remote; print(sorted(m for m in ('paho', 'msgspec', 'yaml', 'numpy') if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert done.stdout.strip() == "[]"
