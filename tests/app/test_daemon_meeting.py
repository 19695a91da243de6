"""The daemon end to end: WAV file source → gate → real Speech SDK → emulator; MQTT through a real Mosquitto."""

from __future__ import annotations

import json
import time

import pytest

from roomscribe.config import Settings, settings_from_data
from roomscribe.emulator.decode import decode
from roomscribe.demo.privacy_audit import account, leak
from tests.support.daemon_harness import TONE_SPEECH, DaemonThread, Subscriber, write_script_wav

SPEED = 2.0  # the file is played twice as fast as real time; capture times follow that schedule

MEETING = """\
Guest-1: Good morning everyone, let us begin.
Guest-2: Thanks. The numbers for March look fine.
[silence 1.5]
Guest-1: SECRET the merger is off, tell nobody.
[silence 1.5]
Guest-2: Back to the agenda, item two is the budget.
Guest-1: Agreed, we move on.
"""


def make_settings(tmp_path, broker, emulator, wav, **speech) -> Settings:
    return settings_from_data(
        {
            "room": "testroom",
            "mqtt": {"host": "127.0.0.1", "port": broker.port},
            "journal": {"path": str(tmp_path / "journal.sqlite3")},
            "speech": {"host": emulator.host_url, "key": "test-key", **speech},
            "audio": {"source": "file", "file": str(wav), "speed": SPEED, **TONE_SPEECH},
        }
    )


def wait_for_transcripts(sub: Subscriber, n: int, timeout: float = 60):
    return sub.wait_for(
        lambda s: (lambda items: items if len(items) >= n else None)(s.payloads("meeting/transcript")),
        timeout,
        f"{n} transcripts",
    )


def at_audio_time(source, seconds: float) -> None:
    """Sleep until the file source reaches `seconds` of audio."""
    deadline = source.started_at + seconds / SPEED
    time.sleep(max(0.0, deadline - time.time()))


@pytest.mark.contention
def test_two_speaker_meeting_from_a_file(tmp_path, mosquitto, emulator):
    wav, planned = write_script_wav(tmp_path, "Guest-1: Good morning everyone.\nGuest-2: Hello, shall we start?\nGuest-1: Yes, first item.\n")
    sub = Subscriber("127.0.0.1", mosquitto.port)
    with DaemonThread(make_settings(tmp_path, mosquitto, emulator, wav)) as run:
        got = wait_for_transcripts(sub, 3)
        t0 = run.daemon.source.started_at
    assert [(u["speaker"], u["text"]) for u in got] == [
        ("Guest-1", "Good morning everyone."),
        ("Guest-2", "Hello, shall we start?"),
        ("Guest-1", "Yes, first item."),
    ]
    assert [u["seq"] for u in got] == [1, 2, 3]
    assert len({u["meeting_id"] for u in got}) == 1
    for utterance, plan in zip(got, planned):
        assert abs(_epoch(utterance["start"]) - (t0 + plan.start / SPEED)) < 0.1
        assert abs(_epoch(utterance["end"]) - (t0 + plan.end / SPEED)) < 0.1
        assert utterance["room"] == "testroom" and utterance["speaker_epoch"] == 1
    sub.close()


@pytest.mark.contention
def test_pause_finishes_the_utterance_in_flight_and_keeps_the_secret(tmp_path, mosquitto, emulator):
    wav, planned = write_script_wav(tmp_path, MEETING)
    cut, secret, after = planned[1], planned[2], planned[3]
    sub = Subscriber("127.0.0.1", mosquitto.port)
    with DaemonThread(make_settings(tmp_path, mosquitto, emulator, wav)) as run:
        source = run.daemon.source
        sub.wait_for(lambda s: source.started_at, 10, "source start")
        at_audio_time(source, (cut.start + cut.end) / 2)  # in the middle of Guest-2's sentence
        sub.publish("meeting/pause", json.dumps({"request_id": "p1"}))
        paused = sub.wait_for(
            lambda s: [m for m in s.payloads("meeting/state") if m.get("request_id") == "p1"], 10, "paused state"
        )[0]
        assert paused["state"] == "paused"
        at_audio_time(source, secret.end + 0.5)
        sub.publish("meeting/resume", json.dumps({"request_id": "r1"}))
        got = wait_for_transcripts(sub, 4)
        received = emulator.record.raw_audio_bytes()
        t0 = source.started_at

    texts = [(u["speaker"], u["text"]) for u in got]
    assert texts[0] == ("Guest-1", "Good morning everyone, let us begin.")
    # The sentence in flight at the pause was finished with what had been said before the pause.
    speaker, text = texts[1]
    assert speaker == "Guest-2" and len(text) >= 5 and cut.text.startswith(text[:-1]) and text != cut.text
    # After the resume the speakers keep their labels in the same diarization session.
    assert texts[2:4] == [("Guest-2", after.text), ("Guest-1", planned[4].text)]
    assert {u["speaker_epoch"] for u in got} == {1}
    # The secret is in no output and never reached the speech service.
    everything = json.dumps(sub.payloads("meeting/transcript") + sub.payloads("meeting/transcript/partial"))
    assert "SECRET" not in everything and "merger" not in everything
    assert all("SECRET" not in p.text for p in decode(received))
    assert_stream_skips(emulator.record.audio_bytes(), wav.read_bytes()[44:], secret.start, secret.end)
    # True wall-clock times across the pause.
    for utterance, plan in ((got[0], planned[0]), (got[2], planned[3]), (got[3], planned[4])):
        assert abs(_epoch(utterance["start"]) - (t0 + plan.start / SPEED)) < 0.1
        assert abs(_epoch(utterance["end"]) - (t0 + plan.end / SPEED)) < 0.1
    sub.close()


def _epoch(iso: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def assert_stream_skips(received: bytes, captured: bytes, secret_start: float, secret_end: float) -> None:
    """Every byte the service got is accounted for against the captured audio; none is from the secret."""
    problem = leak(received, captured, secret_start, secret_end)
    assert problem is None, problem
    assert received[:32000] == captured[:32000], "the file source delivers the whole file: the first sample sent is its first"
    pieces = [p for p in account(received, captured) if p.captured_at is not None]
    assert any(p.captured_at >= int(secret_end * 32000) and p.length > 32000 for p in pieces), "live audio after the resume"
