"""A full disk is a full disk: the daemon as a process, its state directory on a 512 KiB tmpfs, with a real
Mosquitto and the emulator. Full at start with utterances of an earlier run waiting, freed mid-meeting,
full again, freed again: the daemon never exits, every utterance reaches MQTT (the waiting ones too),
nothing is moved aside, the record is complete and the summary counts right, and it says so all along:
events, the state's `storage` (Home Assistant's Storage problem sensor, on and off) and systemd's STATUS=."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import yaml
from jinja2.sandbox import ImmutableSandboxedEnvironment

from tests.outputs.archive.meetings import ROOM, T0, utterance
from tests.support.daemon_harness import TONE_SPEECH, write_script_wav
from tests.support.journal import JournalUnderTest, read_records, waiting_on_disk
from tests.support.mosquitto import Recorder, retained
from tests.support.notify_socket import NotifySocket
from tests.support.tmpfs import Tmpfs, needs_root

LINES = [f"Guest-{n % 2 + 1}: Sentence number {word}." for n, word in
         enumerate(["one", "two", "three", "four", "five", "six"])]
# Room to act between the phases (at speed 2, half of it in real time): the disk is freed after the second
# utterance, filled after the fourth, freed after the fifth.
GAPS = [1, 5, 1, 7, 5]
MEETING = "[silence 1]\n" + "".join(f"{line}\n[silence {gap}]\n" for line, gap in zip(LINES, GAPS)) + LINES[-1] + "\n[silence 2]\n"


def storage_sensor(broker) -> str:
    config = json.loads(retained(broker, f"homeassistant/binary_sensor/roomscribe_{ROOM}_storage/config"))
    return config["value_template"]


@pytest.mark.contention  # the disk is filled and freed between utterances: run again on one busy core
@needs_root
def test_the_daemon_rides_out_a_full_disk_and_loses_nothing(tmp_path, mosquitto, emulator):
    wav, planned = write_script_wav(tmp_path, MEETING)
    notify = NotifySocket()
    rec = Recorder(mosquitto, ["meeting/#", "homeassistant/#"])
    with Tmpfs(tmp_path / "var-lib-roomscribe", size_kib=512) as disk:
        with JournalUnderTest(disk.path / "journal.sqlite3") as earlier:  # a run that ended without its broker
            earlier.meeting_started("m-earlier", ROOM, T0, 1)
            for seq in (1, 2):
                earlier.add_utterance(utterance("m-earlier", seq, T0 + seq))
        config = tmp_path / "config.yaml"
        config.write_text(yaml.safe_dump({
            "room": ROOM,
            "mqtt": {"host": "127.0.0.1", "port": mosquitto.port},
            "journal": {"retry_seconds": 0.5},
            "speech": {"host": emulator.host_url, "key": "test-key"},
            "audio": {"source": "file", "file": str(wav), "speed": 2.0, **TONE_SPEECH},
        }))
        disk.fill()
        log = open(tmp_path / "daemon.log", "wb")
        proc = subprocess.Popen([sys.executable, "-m", "roomscribe", "run", "-c", str(config)], stdout=log,
                                stderr=subprocess.STDOUT, env={**os.environ, **notify.env(),
                                                               "STATE_DIRECTORY": str(disk.path)})
        try:
            def transcripts() -> list[dict]:  # of this meeting
                return [t for t in rec.json_on("meeting/transcript") if t["meeting_id"] != "m-earlier"]

            def storage_events(kind: str) -> list[dict]:
                return [e for e in rec.json_on("meeting/event") if e["kind"] == kind]

            # Full at start: the utterances waiting from the earlier run go out, and the new ones from memory.
            rec.wait_for(lambda: len(transcripts()) >= 2 and storage_events("storage_failed"), 40,
                         "two new utterances on a full disk")
            earlier_out = [(t["meeting_id"], t["seq"]) for t in rec.json_on("meeting/transcript")
                           if t["meeting_id"] == "m-earlier"]
            assert earlier_out == [("m-earlier", 1), ("m-earlier", 2)]
            notify.wait_until(lambda m: "storage failing" in m.fields.get("STATUS", ""), 10,
                              description="STATUS= saying the storage fails")
            disk.free()
            rec.wait_for(lambda: storage_events("storage_recovered"), 20, "the recovery")
            rec.wait_for(lambda: len(transcripts()) >= 4, 30, "four utterances")
            disk.fill()  # full again, mid-meeting
            rec.wait_for(lambda: len(storage_events("storage_failed")) >= 2, 20, "the second failure")
            rec.wait_for(lambda: len(transcripts()) >= 5, 30, "an utterance on the full disk")
            disk.free()
            rec.wait_for(lambda: len(storage_events("storage_recovered")) >= 2, 20, "the second recovery")
            rec.wait_for(lambda: len(transcripts()) >= len(LINES), 30, "the whole meeting")
            assert proc.poll() is None, "the daemon exited"
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(20) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
            log.close()
        output = (tmp_path / "daemon.log").read_text(errors="replace")
        assert "Traceback" not in output, output
        assert not [p.name for p in disk.path.iterdir() if ".corrupt-" in p.name]  # nothing moved aside
        published = transcripts()
        assert [t["text"] for t in published] == [p.text for p in planned]
        records = {r.meeting.id: r for r in read_records(disk.path / "journal.sqlite3")}
        [meeting_id] = {t["meeting_id"] for t in published}
        assert [u.to_payload() for u in records[meeting_id].utterances] == published  # the record has no gap
        assert [u.seq for u in records["m-earlier"].utterances] == [1, 2]
        assert waiting_on_disk(disk.path / "journal.sqlite3") == []  # every PUBACK written at the stop
    summary = rec.wait_for(lambda: [m for m in rec.json_on("meeting/meeting") if m["meeting_id"] == meeting_id], 10,
                           "the meeting summary")[-1]
    assert summary["utterances"] == len(LINES)
    # Home Assistant's Storage sensor, rendered from each state message as Home Assistant would: on, off, on, off.
    template = ImmutableSandboxedEnvironment().from_string(storage_sensor(mosquitto))
    shown = [template.render(value_json=state) for state in rec.json_on("meeting/state")]
    changes = [value for i, value in enumerate(shown) if i == 0 or value != shown[i - 1]]
    assert changes[-4:] == ["ON", "OFF", "ON", "OFF"], changes
    statuses = [m.fields["STATUS"] for m in notify.messages("STATUS")]
    assert "storage failing" not in statuses[-1]
    rec.close()
    notify.close()
