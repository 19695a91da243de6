"""A flapping controller: hundreds of pause/resume commands a few ms apart while people talk.

The push stream must never run ahead of real time (each pause's tail is paced by the audio it
replaces), the last command wins, and the speech after the storm is transcribed as usual.
"""

from __future__ import annotations

import json
import resource
import threading
import time

import paho.mqtt.client as mqtt
import pytest

from roomscribe.core.audio_format import BYTES_PER_SECOND
from roomscribe.config import settings_from_data
from roomscribe.core.records import from_iso_utc
from tests.support.daemon_harness import DaemonThread, Subscriber, write_script_wav, TONE_SPEECH

pytestmark = pytest.mark.contention

MEETING = """\
Guest-1: Before the storm we talk about the weather and the long list of things on the agenda today.
[silence 1.0]
Guest-2: After the storm this sentence must arrive whole.
[silence 1.0]
"""
COMMANDS = 400
GAP_S = 0.004


def test_a_storm_of_commands_keeps_the_stream_in_real_time_and_the_last_command_wins(tmp_path, mosquitto, emulator):
    wav, planned = write_script_wav(tmp_path, MEETING)
    settings = settings_from_data(
        {
            "room": "stormroom",
            "mqtt": {"host": "127.0.0.1", "port": mosquitto.port, "outbox_path": str(tmp_path / "outbox.sqlite3"),
                     "discovery": False},
            "speech": {"host": emulator.host_url, "key": "test-key"},
            "audio": {"source": "file", "file": str(wav), **TONE_SPEECH},
        }
    )
    sub = Subscriber("127.0.0.1", mosquitto.port)
    controller = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="flapping-controller")
    controller.max_queued_messages_set(0)
    controller.max_inflight_messages_set(COMMANDS)
    controller.connect("127.0.0.1", mosquitto.port)
    controller.loop_start()
    with DaemonThread(settings) as runner:
        daemon = runner.daemon
        source = daemon.source
        sub.wait_for(lambda s: any(m["state"] == "transcribing" for m in s.payloads("meeting/state")), 20, "transcribing")
        while source.started_at is None:
            time.sleep(0.01)
        tail_bytes = daemon.diagnostics().gate.tail_chunks * 320 + 3200  # one tail, frame-aligned
        time.sleep(max(0.0, source.started_at + planned[0].start + 0.5 - time.time()))  # well into the first sentence

        samples: list[tuple[float, int]] = []
        sampling = threading.Event()

        def sample() -> None:
            while not sampling.is_set():
                stats = daemon.diagnostics().gate.stats
                samples.append((time.monotonic(), stats.live_bytes_written + stats.silence_bytes_written))
                time.sleep(0.02)

        sampler = threading.Thread(target=sample, daemon=True)
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        sampler.start()
        time.sleep(0.05)
        storm_began = time.monotonic()
        for i in range(COMMANDS):
            name = "pause" if i % 2 == 0 else "resume"
            controller.publish(f"meeting/{name}", json.dumps({"request_id": f"storm-{i}"}), qos=1)
            time.sleep(GAP_S)
        last_id = f"storm-{COMMANDS - 1}"  # a resume: the last command wins
        final = sub.wait_for(
            lambda s: next((m for m in s.payloads("meeting/state") if m["request_id"] == last_id), None),
            20, "the state answering the last command",
        )
        storm_ended = time.monotonic()
        time.sleep(0.5)
        sampling.set()
        sampler.join()
        after = planned[1]
        got = sub.wait_for(
            lambda s: next((u for u in s.payloads("meeting/transcript") if u["text"] == after.text), None),
            max(5.0, source.started_at + after.end + 3.0 - time.time()), "the sentence after the storm",
        )
        arrived = next(t for t, topic, p, _ in sub.messages if topic == "meeting/transcript" and json.loads(p) == got)
        state_now = daemon.diagnostics().state
        rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    controller.loop_stop()
    controller.disconnect()

    assert final["state"] == "transcribing" and state_now == "transcribing"
    # Never ahead of real time by more than one tail, at any moment of the storm.
    base_t, base_bytes = samples[0]
    for t, written in samples:
        assert written - base_bytes <= (t - base_t) * BYTES_PER_SECOND + tail_bytes, (t - storm_began, written - base_bytes)
    # The sentence after the storm: whole, same speaker labels, with the usual latency (the stream is
    # at real time, so the service finishes it a segmentation silence after it ends).
    assert got["speaker"] == "Guest-2" and got["speaker_epoch"] == 1
    assert arrived - (source.started_at + after.end) < 2.0, arrived - (source.started_at + after.end)
    assert abs(from_iso_utc(got["start"]) - (source.started_at + after.start)) < 0.1
    assert storm_ended - storm_began < 10
    assert rss_after - rss_before < 20_000  # KiB: memory stays flat (nothing is buffered per command)
    sub.close()
