"""The room's words and languages end to end: the real daemon plays a mixed-language tone-speech meeting
through the real SDK to the emulator, with a real Mosquitto, the command line and the archive.

Language identification names each utterance's language; a phrase the meeting's list carries comes out
as itself, one it does not as a mishearing (the emulator's model, docs/words.md); a bad phrase list over
MQTT is refused with an event and changes nothing.
"""

from __future__ import annotations

import json

import yaml

from roomscribe.config import load_config
from roomscribe.system import exitcodes
from tests.app.test_daemon_mqtt import assert_daemon_payloads_valid, roomscribe, transcripts, unique, wait_state
from tests.support.daemon_harness import TONE_SPEECH, DaemonThread, write_script_wav
from tests.support.mosquitto import Recorder

MEETING = """\
Anna: Good morning, welcome to {Contoso}.
Ben: <de-DE> Guten Morgen, ich bin von {Fabrikam}.
Anna: Thank you for coming.
Ben: <de-DE> Gerne, danke.
"""


def test_a_mixed_language_meeting_with_the_meetings_phrases(tmp_path, mosquitto, emulator):
    wav, planned = write_script_wav(tmp_path, MEETING)
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({
        "room": "words",
        "mqtt": {"host": mosquitto.host, "port": mosquitto.port, "outbox_path": str(tmp_path / "outbox.sqlite3")},
        "archive": {"path": str(tmp_path / "archive.sqlite3")},
        "speech": {"host": emulator.host_url, "key": "test-key", "languages": ["en-US", "de-DE"]},
        "audio": {"source": "file", "file": str(wav), "speed": 2.0, **TONE_SPEECH},
        "meeting": {"autostart": False},
    }))
    rec = Recorder(mosquitto, "meeting/#")
    try:
        with DaemonThread(load_config(config)) as runner:
            wait_state(rec, "idle")
            done = roomscribe("start", "-c", str(config), "--phrase", "Contoso", "--request-id", "cal-1")
            assert done.returncode == exitcodes.OK and "state: starting" in done.stdout, (done.stdout, done.stderr)
            rec.wait_for(lambda: len(unique(transcripts(rec))) == len(planned), 30, "the meeting's utterances")
            said = unique(transcripts(rec))
            assert [(u["text"], u["language"]) for u in said] == [
                ("Good morning, welcome to Contoso.", "en-US"),  # on the meeting's list: as written
                ("Guten Morgen, ich bin von fab rikam.", "de-DE"),  # not on it: misheard
                ("Thank you for coming.", "en-US"),
                ("Gerne, danke.", "de-DE"),
            ]
            meeting_id = said[0]["meeting_id"]
            assert {t.phrase_list for t in emulator.record.turns} == {("Contoso",)}

            def events(kind: str) -> list[dict]:
                return [e for e in rec.json_on("meeting/event") if e["kind"] == kind]

            # Bad lists on the room's topic: an error event each, nothing changed.
            for payload in (b'{"phrases": "Fabrikam", "request_id": "bad-1"}', b'["' + b"x" * 2000 + b'"]', b"Fabrikam"):
                rec.client.publish("meeting/phrases/set", payload, qos=1)
            refused = rec.wait_for(lambda: [e for e in events("command_refused") if e["detail"]["command"] == "phrases"]
                                   if len(events("command_refused")) >= 3 else None, 10, "three refusals")
            assert [e["detail"]["topic"] for e in refused] == ["meeting/phrases/set"] * 3
            assert refused[0]["request_id"] == "bad-1" and "must be a list" in refused[0]["detail"]["reason"]
            assert "at most 100" in refused[1]["detail"]["reason"]
            assert runner.call(runner.daemon.words.current, meeting_id) == ("Contoso",)

            # A good one: the room's list replaced, the meeting's kept, on the session for its next turn.
            rec.client.publish("meeting/phrases/set", json.dumps({"phrases": ["Fabrikam"], "request_id": "room-1"}),
                               qos=1)
            changed = rec.wait_for(lambda: [e for e in events("phrases_changed") if e["request_id"] == "room-1"], 10,
                                   "phrases_changed")[0]
            assert changed["detail"] == {"meeting_id": meeting_id, "room_phrases": ["Fabrikam"],
                                         "meeting_phrases": ["Contoso"], "phrases": 2, "applies": "next_turn"}
            assert runner.call(runner.daemon.words.current, meeting_id) == ("Fabrikam", "Contoso")
            started = [e for e in events("phrases_changed") if e["request_id"] == "cal-1"]
            assert started and started[0]["detail"]["meeting_phrases"] == ["Contoso"]

            done = roomscribe("stop", "-c", str(config))
            assert done.returncode == exitcodes.OK, done.stderr
            wait_state(rec, "idle")
        assert_daemon_payloads_valid(rec)
    finally:
        rec.close()

    exported = roomscribe("export", "last", "--format", "txt", "-c", str(config))
    assert exported.returncode == exitcodes.OK, exported.stderr
    lines = [line.split("] ", 1)[1] for line in exported.stdout.splitlines() if line.startswith("[")]
    assert lines == ["Guest-1 (en-US): Good morning, welcome to Contoso.",
                     "Guest-2 (de-DE): Guten Morgen, ich bin von fab rikam.",
                     "Guest-1 (en-US): Thank you for coming.", "Guest-2 (de-DE): Gerne, danke."]
