"""The daemon as systemd runs it: a process with NOTIFY_SOCKET, stopped with SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import yaml

from roomscribe.emulator.thread import EmulatorThread
from tests.support.daemon_harness import TONE_SPEECH, DaemonThread, Subscriber, write_script_wav
from tests.support.notify_socket import NotifySocket
from tests.app.test_daemon_meeting import make_settings

MEETING = """\
Guest-1: Good morning, this is the first sentence of the meeting.
Guest-2: And this second sentence is quite long, so that the stop arrives while it is being said.
"""


def write_config(tmp_path, broker_port: int, emulator_url: str, wav) -> str:
    path = tmp_path / "config.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "room": "proc",
                "mqtt": {"host": "127.0.0.1", "port": broker_port, "outbox_path": str(tmp_path / "outbox.sqlite3")},
                "speech": {"host": emulator_url, "key": "secret-speech-key-123"},
                "audio": {"source": "file", "file": str(wav), **TONE_SPEECH},
            }
        )
    )
    return str(path)


def test_sigterm_in_the_middle_of_an_utterance_publishes_it_and_exits_in_time(tmp_path, mosquitto):
    wav, planned = write_script_wav(tmp_path, MEETING)
    notify = NotifySocket()
    sub = Subscriber("127.0.0.1", mosquitto.port)
    with EmulatorThread(key="secret-speech-key-123") as emulator:
        config = write_config(tmp_path, mosquitto.port, emulator.host_url, wav)
        env = dict(os.environ, **notify.env(watchdog_sec=2))
        proc = subprocess.Popen(
            [sys.executable, "-m", "roomscribe", "run", "-c", config],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        try:
            ready = notify.wait_for("READY", "1", timeout=20)
            second_word = planned[1].text.split()[0]
            sub.wait_for(
                lambda s: any(p["text"].startswith(second_word) for p in s.payloads("meeting/transcript/partial")),
                30,
                "a partial of the second sentence",
            )
            stopped_at = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(timeout=10)
            elapsed = time.monotonic() - stopped_at
            output = proc.stdout.read().decode(errors="replace")
        finally:
            if proc.poll() is None:
                proc.kill()
    time.sleep(0.3)
    assert code == 0, output
    assert elapsed < 5.0, f"exit took {elapsed:.1f} s"
    texts = [u["text"] for u in sub.payloads("meeting/transcript")]
    assert texts[0] == planned[0].text
    assert len(texts) == 2 and planned[1].text.startswith(texts[1][:-1]), texts
    availability = [p for _, t, p, _ in sub.messages if t == "meeting/availability"]
    assert availability[-1] == b"offline"
    # systemd saw READY before any STATUS of a running meeting, a STATUS per state, watchdog pings, STOPPING.
    statuses = [m.get("STATUS") for m in notify.messages("STATUS")]
    assert any(s.startswith("transcribing") for s in statuses)
    assert any(s.startswith("idle") for s in statuses)
    assert notify.messages("WATCHDOG") and notify.messages("STOPPING")
    assert ready.received_at <= notify.messages("STOPPING")[0].received_at
    # The key never shows in logs or MQTT payloads.
    assert "secret-speech-key-123" not in output
    assert all(b"secret-speech-key-123" not in p for _, _, p, _ in sub.messages)
    sub.close()
    notify.close()


def test_watchdog_pings_come_from_the_working_loop(tmp_path, mosquitto, emulator, monkeypatch):
    wav, _ = write_script_wav(tmp_path, "Guest-1: Hello.\n[silence 20]\n")
    notify = NotifySocket()
    for key, value in notify.env(watchdog_sec=0.6).items():
        monkeypatch.setenv(key, value)
    with DaemonThread(make_settings(tmp_path, mosquitto, emulator, wav)) as runner:
        notify.wait_for("READY", "1", timeout=20)
        time.sleep(1.0)
        assert len(notify.messages("WATCHDOG")) >= 2
        # Block the owner's loop: the pings stop, so systemd would restart a hung daemon.
        blocked_from = time.monotonic()
        runner.call(time.sleep, 2.0)
        blocked_to = time.monotonic()
        time.sleep(0.7)
    pings = [m.received_at for m in notify.messages("WATCHDOG")]
    assert not [t for t in pings if blocked_from + 0.05 < t < blocked_to - 0.05]
    assert [t for t in pings if t > blocked_to]
    notify.close()
