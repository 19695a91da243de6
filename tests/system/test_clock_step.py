"""A wall clock that jumps, as on a Raspberry Pi after boot: the daemon process starts three days back, the
clock steps forward during a meeting and again during a pause (then it is synchronised, as after NTP).

Real parts: `python -m roomscribe run` with an LD_PRELOAD shim that moves only its CLOCK_REALTIME
(tests/support/clock_shim.c, built here with gcc), the emulator through the real Speech SDK, a real
Mosquitto, and the archive's command line afterwards. Durations must be right, both steps published,
every time in the archive on the final clock, and the exports valid.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import timedelta

import pytest
import srt
import webvtt

from roomscribe.core.records import from_iso_utc
from roomscribe.emulator.thread import EmulatorThread
from tests.app.test_daemon_mqtt import SPEED, assert_daemon_payloads_valid, roomscribe, write_config
from tests.support.clock_shim import ClockShim, needs_gcc
from tests.support.daemon_harness import write_script_wav
from tests.support.mosquitto import Recorder

DAY = 86400.0
MEETING = """\
Guest-1: Good morning, the clock of this room is three days behind.
Guest-2: This long sentence is being said while the clock of the room steps forward by two whole days.
Guest-1: A short one before the pause.
[silence 14]
Guest-2: After the pause the clock is right and synchronised.
Guest-1: And that ends the meeting.
"""


def events(rec: Recorder, kind: str) -> list[dict]:
    return [e for e in rec.json_on("meeting/event") if e["kind"] == kind]


def transcript(rec: Recorder, text_start: str) -> dict | None:
    return next((u for u in rec.json_on("meeting/transcript") if u["text"].startswith(text_start)), None)


def latest_state(rec: Recorder, state: str) -> dict | None:
    states = rec.json_on("meeting/state")
    return states[-1] if states and states[-1]["state"] == state else None


def vtt_seconds(stamp: str) -> float:
    h, m, s = stamp.split(":")
    return int(h) * 3600 + int(m) * 60 + float(s)


@needs_gcc
@pytest.mark.contention
def test_steps_during_a_meeting_and_a_pause_keep_durations_and_exports_right(tmp_path, mosquitto):
    wav, planned = write_script_wav(tmp_path, MEETING)
    shim = ClockShim.build(tmp_path, offset_s=-3 * DAY, synchronized=False)
    rec = Recorder(mosquitto)
    with EmulatorThread(key="test-key") as emulator:
        config = write_config(tmp_path, mosquitto, emulator.host_url, wav, autostart=False)
        proc = subprocess.Popen([sys.executable, "-m", "roomscribe", "run", "-c", str(config)],
                                env={**os.environ, **shim.env()}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        try:
            idle = rec.wait_for(lambda: latest_state(rec, "idle"), 30, "the daemon's first state")
            assert idle["clock_synchronized"] is False
            assert abs(from_iso_utc(idle["since"]) - (time.time() - 3 * DAY)) < 5  # it lives three days back

            started_at = time.monotonic()
            rec.publish("meeting/start")
            rec.wait_for(lambda: transcript(rec, "Good morning"), 30, "the first utterance")
            # Step 1, mid-sentence: the second utterance is captured partly before the step, published after it.
            second = planned[1].text.split()[0]
            rec.wait_for(lambda: any(p["text"].startswith(second) for p in rec.json_on("meeting/transcript/partial")),
                         30, "a partial of the second utterance")
            shim.set(offset_s=-1 * DAY)
            rec.wait_for(lambda: events(rec, "clock_stepped"), 10, "the first step's event")

            rec.wait_for(lambda: transcript(rec, "A short one"), 30, "the utterance before the pause")
            rec.publish("meeting/pause")
            rec.wait_for(lambda: latest_state(rec, "paused"), 10, "paused")
            paused_at = time.monotonic()
            # Step 2, during the pause: NTP sets the clock right and the kernel says it is synchronised.
            shim.set(offset_s=0.0, synchronized=True)
            rec.wait_for(lambda: len(events(rec, "clock_stepped")) == 2, 10, "the second step's event")
            rec.wait_for(lambda: (latest_state(rec, "paused") or {}).get("clock_synchronized"), 10, "synchronised")
            rec.publish("meeting/resume")
            rec.wait_for(lambda: latest_state(rec, "transcribing"), 10, "transcribing again")
            resumed_at = time.monotonic()

            rec.wait_for(lambda: transcript(rec, "And that ends"), 40, "the last utterance")
            rec.publish("meeting/stop")
            ended = rec.wait_for(lambda: events(rec, "meeting_ended"), 15, "meeting_ended")[0]
            stopped_at = time.monotonic()
            summary = rec.wait_for(lambda: rec.json_on("meeting/meeting"), 10, "the meeting summary")[-1]
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                output = proc.communicate(timeout=15)[0].decode(errors="replace")
            except subprocess.TimeoutExpired:
                proc.kill()
                output = proc.communicate()[0].decode(errors="replace")
            shim.close()
    assert proc.returncode == 0, output[-3000:]
    assert "Traceback" not in output, output[-3000:]
    assert_daemon_payloads_valid(rec)
    meeting_id = ended["detail"]["meeting_id"]

    # Both steps were published, with their size and the meeting they happened in.
    steps = events(rec, "clock_stepped")
    assert [s["detail"]["step_s"] for s in steps] == [pytest.approx(2 * DAY, abs=1), pytest.approx(DAY, abs=1)]
    assert {s["detail"]["meeting_id"] for s in steps} == {meeting_id}
    assert steps[1]["detail"]["at"] == pytest.approx(time.time(), abs=120)  # on the final clock: the real one

    # Durations come from the monotonic clock: what the test measured, not 72 hours.
    detail = ended["detail"]
    assert detail["duration_s"] == pytest.approx(stopped_at - started_at, abs=1.5)
    assert detail["paused_s"] == pytest.approx(resumed_at - paused_at, abs=1.0)
    assert 0 < detail["paused_s"] < detail["duration_s"] < 60

    # The summary and the archive's list: the start moved with the clock; length and pauses are right.
    for meeting in (summary, json.loads(roomscribe("meetings", "--json", "-c", str(config)).stdout)[-1]):
        assert meeting["meeting_id"] == meeting_id
        start, end = from_iso_utc(meeting["start"]), from_iso_utc(meeting["end"])
        assert start == pytest.approx(time.time() - (time.monotonic() - started_at), abs=3)
        assert end - start == pytest.approx(detail["duration_s"], abs=1.5)
        assert meeting["paused_seconds"] == pytest.approx(detail["paused_s"], abs=0.01)
        assert meeting["utterances"] == 5

    # What was published before a step is on the clock before it; the archive moved it to the final clock.
    live = sorted(rec.json_on("meeting/transcript"), key=lambda u: u["seq"])
    stored = [json.loads(line) for line in roomscribe("export", meeting_id, "--format", "jsonl", "-c", str(config))
              .stdout.splitlines() if json.loads(line)["record"] == "utterance"]
    assert [u["seq"] for u in live] == [u["seq"] for u in stored] == [1, 2, 3, 4, 5]
    moved_by = [3 * DAY, DAY, DAY, 0, 0]  # 1 before both steps; 2 (spoken across step 1) and 3 between them
    for u, s, shift in zip(live, stored, moved_by):
        assert from_iso_utc(s["start"]) - from_iso_utc(u["start"]) == pytest.approx(shift, abs=0.002), u["text"]
        # No utterance spans a step: its length is what the service heard (the file plays at SPEED).
        heard = u["duration_ms"] / 1000 / SPEED
        assert from_iso_utc(u["end"]) - from_iso_utc(u["start"]) == pytest.approx(heard, abs=0.05), u["text"]
    assert [u["clock_synchronized"] for u in live] == [False, False, False, True, True]
    starts = [from_iso_utc(s["start"]) for s in stored]
    assert starts == sorted(starts) and start <= starts[0] and starts[-1] < end

    # Exports: valid cues within the meeting, in order, none negative, zero-length or absurd.
    length = end - start
    vtt = roomscribe("export", meeting_id, "--format", "vtt", "-c", str(config)).stdout
    cues = [(vtt_seconds(c.start), vtt_seconds(c.end), c.identifier) for c in webvtt.from_string(vtt).captions]
    subtitles = list(srt.parse(roomscribe("export", meeting_id, "--format", "srt", "-c", str(config)).stdout))
    assert len(cues) == len(subtitles) == 6  # five utterances and the pause
    for (vtt_start, vtt_end, _), sub in zip(cues, subtitles):
        assert 0 <= vtt_start < vtt_end <= length + 0.1
        assert (sub.start, sub.end) == (timedelta(seconds=vtt_start), timedelta(seconds=vtt_end))
    assert [c[0] for c in cues] == sorted(c[0] for c in cues)
    [pause] = [c for c in cues if c[2].startswith("pause-")]
    assert pause[1] - pause[0] == pytest.approx(detail["paused_s"], abs=1.0)
    rec.close()
