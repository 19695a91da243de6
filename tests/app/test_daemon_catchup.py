"""Catch-up over MQTT end to end (docs/archive.md): the real daemon, Mosquitto, the emulator, the archive.

A dashboard that joins in the middle of a meeting subscribes first, asks with since_seq 0, follows
`more`, keeps listening, and de-duplicates on (meeting_id, seq): it ends with seq 1..N, each once.
"""

from __future__ import annotations

import json
import threading
import time

import paho.mqtt.client as mqtt
import pytest
import yaml
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from roomscribe.config import load_config
from tests.app.test_daemon_mqtt import assert_daemon_payloads_valid, transcripts, write_config
from tests.support.archive_check import archived_payloads, assert_archive_holds_exactly
from tests.support.daemon_harness import DaemonThread, write_script_wav
from tests.support.mosquitto import retained

LINES = 16
MEETING = "\n".join(f"Guest-{1 + i % 2}: Catch up line number {i + 1} of the meeting." for i in range(LINES)) + "\n[silence 4]\n"
QUIET_MEETING = "Guest-1: One line.\nGuest-2: And another.\n[silence 60]\n"


@pytest.fixture
def recorders():
    from tests.support.mosquitto import Recorder

    made = []

    def make(*args, **kwargs):
        made.append(Recorder(*args, **kwargs))
        return made[-1]

    yield make
    for rec in made:
        rec.close()


def responses(rec) -> list[dict]:
    return rec.json_on("meeting/response/transcript")


def test_a_dashboard_joining_mid_meeting_ends_with_every_utterance_once(tmp_path, mosquitto, emulator, recorders):
    wav, planned = write_script_wav(tmp_path, MEETING)
    config = write_config(tmp_path, mosquitto, emulator.host_url, wav)
    watcher = recorders(mosquitto, "meeting/#")
    with DaemonThread(load_config(config)):
        watcher.wait_for(lambda: len(transcripts(watcher)) >= LINES // 3, 60, "a third of the meeting")
        # The dashboard: subscribe to both first, then ask, then keep listening.
        dash = recorders(mosquitto, ["meeting/transcript", "meeting/response/transcript"])
        dash.publish("meeting/request/transcript", json.dumps({"since_seq": 0, "request_id": "dash-1"}))
        pages = dash.wait_for(lambda: (lambda r: r if r and not r[-1]["more"] else None)(responses(dash)), 20,
                              "the last page")
        watcher.wait_for(lambda: len(transcripts(watcher)) >= LINES, 60, "the whole meeting")
        dash.wait_for(lambda: len({u["seq"] for u in transcripts(dash)} | {u["seq"] for p in pages
                                                                            for u in p["utterances"]}) >= LINES,
                      20, "every utterance, live or caught up")
        # The meeting ends: its summary, retained, once the end is in the journal.
        watcher.publish("meeting/stop")
        summary = watcher.wait_for(lambda: watcher.json_on("meeting/meeting"), 20, "the meeting summary")[-1]
        assert json.loads(retained(mosquitto, "meeting/meeting")) == summary
    caught_up = [u for page in pages for u in page["utterances"]]
    live = transcripts(dash)
    assert caught_up and live, "the test should see both halves"
    assert all(p["status"] == "ok" and p["request_id"] == "dash-1" for p in pages)
    assert pages[0]["running"] is True
    # De-duplicated on (meeting_id, seq): 1..N, each once, and the same payloads as live.
    seen = {}
    for u in caught_up + live:
        seen.setdefault((u["meeting_id"], u["seq"]), u)
    assert sorted(seq for _, seq in seen) == list(range(1, LINES + 1))
    assert len({m for m, _ in seen}) == 1
    assert [seen[k]["text"] for k in sorted(seen)] == [p.text for p in planned]
    assert_archive_holds_exactly(tmp_path / "journal.sqlite3", lambda: transcripts(watcher))
    assert summary["meeting_id"] == pages[0]["meeting_id"] and summary["utterances"] == LINES
    assert summary["speakers"] == [{"speaker_epoch": 1, "speaker": "Guest-1", "name": None},
                                   {"speaker_epoch": 1, "speaker": "Guest-2", "name": None}]
    assert summary["audio_seconds"] > 0 and summary["paused_seconds"] == 0 and summary["end"] > summary["start"]
    used = assert_daemon_payloads_valid(watcher, dash)
    assert used >= {"meeting", "transcript_response", "transcript"}, used


BAD_REQUESTS = {
    "bad utf-8": b'{"request_id": "\xff\xfe"}',
    "bad json": b'{"since_seq": 1',
    "not an object": b"[1, 2, 3]",
    "wrong type": b'{"since_seq": "zero", "request_id": "typed"}',
    "negative seq": b'{"since_seq": -1, "request_id": "neg"}',
    "unknown key": b'{"meeting": "last", "request_id": "unk"}',
    "deep nesting": b"[" * 2000 + b"]" * 2000,  # under the size limit: refused by the parser, not the size
    "a megabyte": b'{"request_id": "' + b"x" * 1_048_576 + b'"}',
    "control characters": b'{"meeting_id": "a\\u0000b", "request_id": "ctl"}',
}


def test_malformed_requests_get_error_answers_and_change_nothing(tmp_path, mosquitto, emulator, recorders):
    wav, _ = write_script_wav(tmp_path, QUIET_MEETING)
    config = write_config(tmp_path, mosquitto, emulator.host_url, wav)
    rec = recorders(mosquitto, "meeting/#")
    # A retained request is ignored: it would be answered again on every connect. (Retained is what a
    # subscriber sees as retained: one waiting at the broker when the daemon subscribes.)
    rec.publish("meeting/request/transcript", b'{"request_id": "kept"}', retain=True)
    with DaemonThread(load_config(config)) as runner:
        rec.wait_for(lambda: len(transcripts(rec)) >= 2, 30, "both utterances")
        before = archived_payloads(tmp_path / "journal.sqlite3")
        for payload in BAD_REQUESTS.values():
            rec.publish("meeting/request/transcript", payload)
        answers = rec.wait_for(lambda: (lambda r: r if len(r) >= len(BAD_REQUESTS) else None)(responses(rec)), 20,
                               "an answer to each bad request")
        rec.publish("meeting/request/transcript", b'{"request_id": "good"}')  # the responder still works
        good = rec.wait_for(lambda: [r for r in responses(rec) if r["request_id"] == "good"], 10, "the good answer")
        time.sleep(0.3)
        assert runner.daemon.diagnostics().state == "transcribing"
        assert archived_payloads(tmp_path / "journal.sqlite3") == before
        rec.publish("meeting/request/transcript", b"", retain=True)  # clear the retained request
    assert len(answers) == len(BAD_REQUESTS) and all(a["status"] == "error" for a in answers)
    assert {a["error"]["code"] for a in answers} == {"bad_request"}
    assert {a["request_id"] for a in answers} >= {"typed", "neg", "unk", "ctl"}
    assert "kept" not in {a["request_id"] for a in responses(rec)}
    assert good[0]["status"] == "ok" and len(good[0]["utterances"]) == 2
    assert not [e for e in rec.json_on("meeting/event") if e["level"] == "error"]


def test_mqtt5_response_topic_and_correlation_data_are_honoured(tmp_path, mosquitto, emulator):
    wav, _ = write_script_wav(tmp_path, QUIET_MEETING)
    config = write_config(tmp_path, mosquitto, emulator.host_url, wav)
    data = yaml.safe_load(config.read_text())
    data["mqtt"]["protocol"] = "5"
    config.write_text(yaml.safe_dump(data))
    got: list[tuple[str, bytes, bytes | None]] = []
    subscribed = threading.Event()
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="dash-v5", protocol=mqtt.MQTTv5)
    client.on_connect = lambda c, u, f, rc, p: c.subscribe([("dash/inbox/#", 1), ("meeting/transcript", 1),
                                                           ("meeting/response/transcript", 1)])
    client.on_subscribe = lambda *a: subscribed.set()
    client.on_message = lambda c, u, m: got.append(
        (m.topic, m.payload, getattr(m.properties, "CorrelationData", None)))
    client.connect(mosquitto.host, mosquitto.port)
    client.loop_start()
    assert subscribed.wait(10)

    def ask(payload: bytes, response_topic: str, correlation: bytes) -> None:
        props = Properties(PacketTypes.PUBLISH)
        props.ResponseTopic, props.CorrelationData = response_topic, correlation
        client.publish("meeting/request/transcript", payload, qos=1, properties=props).wait_for_publish(5)

    def wait(predicate, what):
        deadline = time.monotonic() + 30
        while not predicate():
            assert time.monotonic() < deadline, f"timed out waiting for {what}: {[(t, p[:60]) for t, p, _ in got]}"
            time.sleep(0.05)

    try:
        with DaemonThread(load_config(config)):
            wait(lambda: sum(t == "meeting/transcript" for t, _, _ in got) >= 2, "two utterances")
            ask(b'{"request_id": "v5"}', "dash/inbox/1", b"\x00corr-1")
            wait(lambda: any(t == "dash/inbox/1" for t, _, _ in got), "the answer on the response topic")
            ask(b'{"request_id": "sneaky"}', "meeting/state", b"corr-2")  # the daemon's own topic: refused
            wait(lambda: any(t == "meeting/response/transcript" for t, _, _ in got), "the refusal")
    finally:
        client.loop_stop()
        client.disconnect()
    [(_, page, correlation)] = [g for g in got if g[0] == "dash/inbox/1"]
    answer = json.loads(page)
    assert correlation == b"\x00corr-1" and answer["status"] == "ok" and answer["request_id"] == "v5"
    assert [u["seq"] for u in answer["utterances"]] == [1, 2]
    [(_, refusal, correlation)] = [g for g in got if g[0] == "meeting/response/transcript"]
    assert correlation == b"corr-2" and json.loads(refusal)["error"]["code"] == "bad_request"
