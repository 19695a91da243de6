"""A file source is played again for each meeting, and a file gone between meetings is reported as a missing
device would be (`no_audio`, `audio.status: lost` with the reason) until it is back. Real daemon, real SDK and
emulator, real Mosquitto."""

from __future__ import annotations

from roomscribe.config import settings_from_data
from tests.app.test_daemon_meeting import SPEED
from tests.support.daemon_harness import TONE_SPEECH, DaemonThread, Subscriber, write_script_wav

SCRIPT = "Guest-1: Good morning, this is the whole meeting.\nGuest-2: Thanks, see you next time.\n"


def texts(sub: Subscriber, meeting_id: str) -> list[str]:
    return [u["text"] for u in sub.payloads("meeting/transcript") if u["meeting_id"] == meeting_id]


def latest_state(sub: Subscriber) -> dict:
    states = sub.payloads("meeting/state")
    return states[-1] if states else {}


def meeting(sub: Subscriber, expected: list[str]) -> str:
    """Start a meeting, wait for every utterance of the file, stop it; its id."""
    before = len(sub.payloads("meeting/state"))
    sub.publish("meeting/start")
    started = sub.wait_for(lambda s: next((m for m in s.payloads("meeting/state")[before:] if m["meeting_id"]), None),
                           20, "the meeting's state")
    meeting_id = started["meeting_id"]
    sub.wait_for(lambda s: texts(s, meeting_id) == expected, 40, f"the file's utterances in {meeting_id}")
    sub.publish("meeting/stop")
    sub.wait_for(lambda s: latest_state(s).get("state") == "idle", 20, "idle")
    return meeting_id


def test_every_meeting_plays_the_file_and_a_missing_file_is_reported_until_it_is_back(tmp_path, mosquitto, emulator):
    wav, planned = write_script_wav(tmp_path, SCRIPT)
    expected = [p.text for p in planned]
    kept = wav.read_bytes()
    sub = Subscriber("127.0.0.1", mosquitto.port)
    settings = settings_from_data({
        "room": "files",
        "mqtt": {"host": "127.0.0.1", "port": mosquitto.port, "outbox_path": str(tmp_path / "outbox.sqlite3")},
        "speech": {"host": emulator.host_url, "key": "test-key"},
        "audio": {"source": "file", "file": str(wav), "speed": SPEED, **TONE_SPEECH},
        "meeting": {"autostart": False},
    })
    with DaemonThread(settings):
        sub.wait_for(lambda s: latest_state(s).get("state") == "idle", 20, "the first state")
        first = meeting(sub, expected)
        second = meeting(sub, expected)  # once played to its end, the file plays again for the next meeting

        wav.unlink()
        sub.publish("meeting/start")
        missing = sub.wait_for(lambda s: (latest_state(s).get("audio") or {}).get("status") == "lost" and latest_state(s),
                               20, "the missing file reported")
        assert missing["state"] in ("starting", "no_audio")
        assert missing["audio"]["detail"] == f"audio.file: {wav} does not exist"
        sub.wait_for(lambda s: latest_state(s).get("state") == "no_audio", 20, "no_audio")
        lost = [e for e in sub.payloads("meeting/event") if e["kind"] == "audio_source_lost"]
        assert lost and lost[-1]["detail"]["detail"] == missing["audio"]["detail"]

        wav.write_bytes(kept)  # back: picked up by the retry, as a device plugged in again
        third = sub.wait_for(lambda s: latest_state(s).get("state") == "transcribing" and latest_state(s)["meeting_id"],
                             20, "transcribing once the file is back")
        sub.wait_for(lambda s: texts(s, third) == expected, 40, "the third meeting's utterances")
    assert len({first, second, third}) == 3
    sub.close()
