"""Naming a speaker changes the lines live: the real daemon, the emulator, Mosquitto and Debian's chromium.

A voice is named from the page (a click on its name, with the command token), over MQTT (`meeting/speakers/set`),
by Home Assistant's text entity (its command template, rendered with Jinja as Home Assistant does) and by
`roomscribe name` (which finds the daemon holding the journal and asks it over MQTT). Every open page shows the
names at once; the utterances published after a naming carry `speaker_name`; the retained `meeting/speakers`
holds the map; bad input is refused with the request's request_id and changes nothing; once the meeting
ended, catch-up and the page's export show the names, and a past meeting's voices can still be named.
"""

from __future__ import annotations

import http.client
import json

import pytest

from roomscribe import cli
from roomscribe.config import load_config
from roomscribe.outputs.mqtt.discovery import discovery_messages
from roomscribe.outputs.mqtt.topics import Topics
from roomscribe.system import exitcodes
from tests.app.test_daemon_mqtt import assert_daemon_payloads_valid
from tests.app.test_daemon_web import browser, lines, pages, wait, write_config  # noqa: F401  (fixtures)
from tests.support.daemon_harness import DaemonThread, write_script_wav
from tests.support.mosquitto import Recorder, free_port, retained

COMMAND_TOKEN = "page-controls-token-0123"  # test_daemon_web's write_config sets it
# Two stretches of talk with a pause between them: the names given in the first show on the second's lines.
# The pause leaves room for the page's naming on one busy core (the contention run), where chromium takes
# seconds to load the page and to act on it.
MEETING = ("Guest-1: Good morning everyone, welcome to the review.\n"
           "Guest-2: Thank you, shall we start with the numbers?\n"
           "Guest-1: Yes, the numbers for March look fine.\n"
           "[silence 30]\n"
           "Guest-2: Then travel costs are next on the list.\n"
           "Guest-1: They went down a little this quarter.\n"
           "Guest-2: Good, that was the plan.\n"
           "Guest-1: Then we are done for today.\n"
           "[silence 6]\n")


def events(rec: Recorder, request_id: str) -> list[dict]:
    return [e for e in rec.json_on("meeting/event") if e.get("request_id") == request_id]


def answered(rec: Recorder, request_id: str) -> dict:
    return rec.wait_for(lambda: events(rec, request_id), 15, f"the answer to {request_id}")[0]


def who(page) -> dict[str, list[str]]:
    """The names shown on the page, by label."""
    shown: dict[str, list[str]] = {}
    for line in page.evaluate("""() => [...document.querySelectorAll('#lines li.line')].map(li =>
            [li.dataset.speaker, li.querySelector('.who').textContent])"""):
        shown.setdefault(line[0], []).append(line[1])
    return shown


def all_named(page, label: str, name: str) -> bool:
    shown = who(page).get(label)
    return bool(shown) and all(n == name for n in shown)


@pytest.mark.contention
def test_naming_a_speaker_changes_the_lines_live(tmp_path, mosquitto, emulator, pages):  # noqa: F811
    wav, planned = write_script_wav(tmp_path, MEETING)
    port = free_port()
    config = write_config(tmp_path, mosquitto, emulator.host_url, wav, port)
    rec = Recorder(mosquitto, "meeting/#")
    try:
        with DaemonThread(load_config(config)):
            watcher = pages(f"http://127.0.0.1:{port}/#command_token={COMMAND_TOKEN}")
            reader = pages(f"http://127.0.0.1:{port}/")
            wait(lambda: len(lines(watcher)) >= 1 and who(watcher).get("Guest-1"), 40, "Guest-1's first line")
            meeting = rec.json_on("meeting/transcript")[0]["meeting_id"]

            # From the page: a click on the speaker's name, a name, Save.
            watcher.click("#lines li.line[data-speaker='Guest-1'] .who")
            watcher.fill("#naming-input", "Alice")
            watcher.click("#naming-form button[type=submit]")
            for page in (watcher, reader):
                wait(lambda p=page: all_named(p, "Guest-1", "Alice"), 10, "Alice on every open page")
            named = [e for e in rec.json_on("meeting/event") if e["kind"] == "speaker_named"]
            assert named[0]["detail"] == {"meeting_id": meeting, "speaker_epoch": 1, "speaker": "Guest-1",
                                          "name": "Alice", "previous": None, "running": True}
            assert named[0]["request_id"].startswith("web-")

            # Over MQTT, as a dashboard or a calendar integration would.
            wait(lambda: who(watcher).get("Guest-2"), 40, "Guest-2's first line")
            rec.publish("meeting/speakers/set", json.dumps({"speaker": "Guest-2", "name": "Bob", "request_id": "mq-1"}))
            assert answered(rec, "mq-1")["kind"] == "speaker_named"
            for page in (watcher, reader):
                wait(lambda p=page: all_named(p, "Guest-2", "Bob"), 10, "Bob on every open page")

            # Bad input: an error event with its request_id, and nothing changes.
            map_before = retained(mosquitto, "meeting/speakers")
            for request_id, payload, reason in (
                    ("bad-1", {"speaker": "Guest-7", "name": "Eve"}, "unknown speaker"),
                    ("bad-2", {"speaker": "Guest-1", "name": ""}, "name is empty"),
                    ("bad-3", {"speaker": "Guest-1", "name": "x" * 101}, "at most 100"),
                    ("bad-4", {"speaker": "Guest-1", "name": "Eve\u0007"}, "control characters"),
                    ("bad-5", {"speaker": "Guest-1", "name": "Eve", "meeting_id": "0000"}, "unknown meeting"),
                    ("bad-6", {"speaker": "Guest-1", "name": "Eve", "speaker_epoch": 2}, "unknown speaker")):
                rec.publish("meeting/speakers/set", json.dumps({**payload, "request_id": request_id}))
                refusal = answered(rec, request_id)
                assert refusal["kind"] == "command_refused" and reason in refusal["detail"]["reason"], refusal
            assert retained(mosquitto, "meeting/speakers") == map_before
            assert all_named(watcher, "Guest-1", "Alice") and all_named(watcher, "Guest-2", "Bob")

            # Home Assistant's text entity: what it sends when someone types a name into it.
            import jinja2

            [text] = [json.loads(m.payload) for m in discovery_messages("boardroom", Topics("meeting"), "homeassistant")
                      if m.topic.endswith("speaker_2_name/config")]
            rec.publish(text["command_topic"], jinja2.Template(text["command_template"]).render(value="Robert"))
            for page in (watcher, reader):
                wait(lambda p=page: all_named(p, "Guest-2", "Robert"), 10, "Robert, from Home Assistant")

            # The command line: the daemon holds the journal, so it asks the daemon.
            assert cli.main(["name", "-c", str(config), "Guest-1", "Alice Smith"]) == exitcodes.OK
            for page in (watcher, reader):
                wait(lambda p=page: all_named(p, "Guest-1", "Alice Smith"), 10, "Alice Smith, from the command line")

            rec.wait_for(lambda: len(rec.json_on("meeting/transcript")) >= len(planned), 60, "the whole meeting")
            rec.publish("meeting/stop", json.dumps({"request_id": "stop-1"}))
            rec.wait_for(lambda: rec.json_on("meeting/state")[-1]["state"] == "idle", 20, "the meeting's end")
            # Naming later changes what the record shows: a past meeting is named through the daemon's journal.
            rec.publish("meeting/speakers/set", json.dumps({"speaker": "Guest-2", "name": "Bob", "meeting_id": "last",
                                                            "request_id": "past-1"}))
            assert answered(rec, "past-1")["detail"]["running"] is False
            rec.publish("meeting/request/transcript", json.dumps({"meeting_id": "last", "request_id": "cu-1"}))
            caught_up = rec.wait_for(lambda: [p for p in rec.json_on("meeting/response/transcript")
                                              if p.get("request_id") == "cu-1"], 15, "the catch-up answer")
            export = page_export(port, meeting)
    finally:
        rec.close()

    # Every utterance published after a naming carries the name its voice had then; those before, none.
    names: dict[str, str] = {}
    stamped = []
    for seen in rec.messages:
        event = seen.json() if seen.topic == "meeting/event" else {}
        if event.get("kind") == "speaker_named" and event["detail"]["running"]:
            names[event["detail"]["speaker"]] = event["detail"]["name"]
        elif seen.topic == "meeting/transcript":
            u = seen.json()
            assert u["speaker_name"] == names.get(u["speaker"]), u
            stamped.append(u["speaker_name"])
    # The second stretch came after the first names (on failure: what came when).
    assert "Alice" in stamped or "Alice Smith" in stamped, [
        (m.topic, m.json().get("kind") or m.json().get("seq"), m.json().get("speaker_epoch"), m.json().get("speaker"),
         m.json().get("speaker_name")) for m in rec.messages if m.topic in ("meeting/event", "meeting/transcript")]
    # The retained map said so as it changed, and says no meeting now.
    maps = [m.json() for m in rec.messages if m.topic == "meeting/speakers" and m.payload]
    assert {"speaker_epoch": 1, "speaker": "Guest-1", "name": "Alice Smith"} in maps[-2]["speakers"]
    assert maps[-1] == {"room": "boardroom", "meeting_id": None, "speaker_epoch": None, "speakers": []}
    # The record shows the names of now on every line, also on those published before the naming.
    final = {"Guest-1": "Alice Smith", "Guest-2": "Bob"}
    assert [(u["speaker"], u["speaker_name"]) for page in caught_up for u in page["utterances"]] == \
        [(p.speaker, final[p.speaker]) for p in planned]
    assert [line.split("] ", 1)[1].split(":")[0] for line in export.splitlines() if line.startswith("[")] == \
        [final[p.speaker] for p in planned]
    assert "Speakers: Alice Smith (Guest-1), Bob (Guest-2)" in export
    assert {"speakers", "transcript", "event"} <= assert_daemon_payloads_valid(rec)


def page_export(port: int, meeting_id: str) -> str:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
    try:
        connection.request("GET", f"/api/meetings/{meeting_id}/export/txt")
        response = connection.getresponse()
        assert response.status == 200
        return response.read().decode()
    finally:
        connection.close()
