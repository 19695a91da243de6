"""No utterance is lost: a 30-second broker outage mid-meeting, and SIGKILL of the daemon during an outage.

The subscriber keeps a persistent session on a broker with persistence, so what the link delivers
while the subscriber is still reconnecting waits for it at the broker: the test sees everything the
broker acknowledged.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from roomscribe.config import settings_to_data
from tests.support.journal import waiting_on_disk
from tests.outputs.mqtt.conftest import ROOM, make_settings, validate
from tests.support.mosquitto import Mosquitto, Recorder
from tests.support.mqtt_link_process import utterance

OUTAGE_S = 30.0


def delivered(rec: Recorder) -> list[tuple[str, int]]:
    return [(t["meeting_id"], t["seq"]) for t in rec.json_on("meeting/transcript")]


def first_occurrences(items: list) -> list:
    seen, out = set(), []
    for item in items:
        if item not in seen:
            seen.add(item)
            out.append(item)
    return out


@pytest.fixture
def persistent_broker(tmp_path):
    broker = Mosquitto(tmp_path, persistence=True).start()
    yield broker
    broker.stop()


@pytest.mark.slow
def test_a_30_second_outage_in_the_middle_of_a_meeting_loses_nothing(persistent_broker, tmp_path, links):
    broker = persistent_broker
    rec = Recorder(broker, ["meeting/transcript", "meeting/event"], client_id="dashboard", persistent_session=True)
    item = links(make_settings(broker, tmp_path)).start()
    item.wait_connected()
    seq = 0

    def say() -> None:
        nonlocal seq
        seq += 1
        item.submit(utterance("m-outage", seq, ROOM, time.time()))

    for _ in range(5):
        say()
    rec.wait_for(lambda: len(delivered(rec)) == 5, what="the first five")
    # The broker must have saved the dashboard's session before it dies, or the backlog delivered at the reconnect
    # (at once) finds no subscription to queue for. Mosquitto saves every autosave_interval, the first time a
    # second or two after its start: wait for a save that came after the subscription, not for a guessed time.
    subscribed_at = time.time()
    saved = broker.dir / "mosquitto.db"
    rec.wait_for(lambda: saved.exists() and saved.stat().st_mtime > subscribed_at, what="the broker to save the session")

    # The broker hangs first, so three utterances are on the wire without an acknowledgement, then dies.
    broker.freeze()
    for _ in range(3):
        say()
    time.sleep(0.3)
    broker.kill()
    outage_started = time.monotonic()
    while time.monotonic() - outage_started < OUTAGE_S:  # the meeting goes on: one utterance a second
        say()
        time.sleep(1.0)
    assert not item.link.connected
    waiting = len(item.waiting)
    assert waiting >= 29
    broker.start()
    for _ in range(5):
        say()

    try:
        rec.wait_for(lambda: len(set(delivered(rec))) == seq, timeout=60, what=f"all {seq} utterances")
    except AssertionError:
        missing = sorted(set(range(1, seq + 1)) - {n for _, n in delivered(rec)})
        raise AssertionError(f"missing utterances {missing}; {len(item.waiting)} wait in the journal") from None
    got = delivered(rec)
    assert first_occurrences(got) == [("m-outage", n) for n in range(1, seq + 1)]  # all of them, in order
    for payload in rec.on("meeting/transcript"):
        validate("transcript", payload.payload)
    rec.wait_for(lambda: len(item.waiting) == 0, what="nothing to wait")
    reconnect = rec.wait_for(
        lambda: [e for e in rec.json_on("meeting/event") if e["kind"] == "mqtt_reconnected"], what="the event"
    )[0]
    assert reconnect["detail"]["offline_s"] >= OUTAGE_S - 1
    assert reconnect["detail"]["pending_utterances"] >= waiting
    rec.close()


@pytest.mark.slow
def test_sigkill_during_an_outage_loses_nothing(persistent_broker, tmp_path, links):
    broker = persistent_broker
    settings = make_settings(broker, tmp_path)
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.support.mqtt_link_process", json.dumps(settings_to_data(settings)),
         "--wait-connected", "--go-on-stdin", "--utterances", "20", "--meeting-id", "m-before-kill"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=os.getcwd(),
    )
    try:
        assert proc.stdout.readline().strip() == "connected"
        broker.stop()  # the broker goes away first; the "daemon" keeps transcribing
        proc.stdin.write("go\n")
        proc.stdin.flush()
        assert proc.stdout.readline().strip() == "stored 20"
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    left = waiting_on_disk(settings.journal.path)
    assert left == [("m-before-kill", n) for n in range(1, 21)]  # on disk, though the process never got to send

    broker.start()
    rec = Recorder(broker, "meeting/transcript", client_id="dashboard", persistent_session=True)
    restarted = links(settings).start()  # the daemon's restart: same config, same journal
    rec.wait_for(lambda: set(left) <= set(delivered(rec)), timeout=30, what="the stored utterances")
    assert first_occurrences([d for d in delivered(rec) if d in set(left)]) == left  # original ids, in order
    for payload in rec.on("meeting/transcript"):
        body = json.loads(payload.payload)
        assert body["meeting_id"] == "m-before-kill" and body["text"] == f"utterance number {body['seq']}"
    rec.wait_for(lambda: len(restarted.waiting) == 0, what="nothing to wait")
    rec.close()
