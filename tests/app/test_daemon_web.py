"""The live page in a real browser against the real daemon, the emulator and Mosquitto.

Debian's chromium driven by Playwright (one browser for the module); the daemon plays a tone-speech WAV file
through the real Speech SDK to the emulator and publishes to a real broker, whose messages a subscriber
records with their arrival times. The page keeps, per record it draws, when it received it and when the
frame that shows it was painted (`window.roomscribe.metrics`); both clocks are this machine's wall clock.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import yaml

from roomscribe.config import load_config
from tests.support.daemon_harness import TONE_SPEECH, DaemonThread, write_script_wav
from tests.support.mosquitto import Mosquitto, Recorder, free_port
from tests.support.web_page import browser  # noqa: F401  (a fixture)

COMMAND_TOKEN = "page-controls-token-0123"
BANNER_WITHIN_S = 0.3  # the bound: the banner shows a state within 300 ms of its MQTT message
MEETING = ("Guest-1: Good morning everyone, welcome to the review.\n"
           "Guest-2: Thank you, shall we start with the numbers?\n"
           "Guest-1: Yes, the numbers for March look fine.\n"
           "Guest-2: Then travel costs are next on the list.\n"
           "[silence 30]\n")


@pytest.fixture
def pages(browser):
    """Opens pages, each in a context (a window) of its own: a second tab in one window is a background tab,
    whose frames Chromium throttles, as a second screen in a room is not."""
    contexts = []
    errors: list[str] = []

    def open_page(url: str):
        contexts.append(browser.new_context(viewport={"width": 1000, "height": 700}))
        page = contexts[-1].new_page()
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(url)
        return page

    yield open_page
    for context in contexts:
        context.close()
    assert errors == [], f"the page raised: {errors}"


def write_config(tmp_path: Path, broker: Mosquitto, emulator_url: str, wav: Path, port: int, **overrides) -> Path:
    data = {
        "room": "boardroom",
        "mqtt": {"host": broker.host, "port": broker.port, "outbox_path": str(tmp_path / "outbox.sqlite3"),
                 "reconnect_max_delay": 1},
        "archive": {"path": str(tmp_path / "archive.sqlite3")},
        "speech": {"host": emulator_url, "key": "test-key", "diarize_intermediates": True, "reconnect_max_delay": 1},
        "audio": {"source": "file", "file": str(wav), "speed": 2.0, **TONE_SPEECH},
        "web": {"port": port, "command_token": COMMAND_TOKEN},
    }
    for section, values in overrides.items():
        data[section] = {**data.get(section, {}), **values}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


# -- what the page shows ----------------------------------------------------------------------------------


def metrics(page, kind: str) -> list[dict]:
    return page.evaluate("kind => window.roomscribe.metrics.filter(m => m.kind === kind)", kind)


def lines(page, list_id: str = "lines") -> list[tuple[int, str, str]]:
    return [tuple(line) for line in page.evaluate("""id => [...document.querySelectorAll(`#${id} li.line`)].map(li =>
        [Number(li.dataset.seq), li.querySelector('.who').textContent, li.querySelector('.text').textContent])""",
                         list_id)]


def banner(page) -> str:
    return page.get_attribute("#banner", "data-kind")


def wait(predicate, timeout: float = 20.0, what: str = "a condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def banner_painted(page, kind: str, after_ms: float) -> float:
    """When the page painted the banner `kind`, first after `after_ms` (epoch ms), in epoch seconds."""
    found = wait(lambda: [m for m in metrics(page, "banner") if m["key"] == kind and m["painted"]
                          and m["painted"] >= after_ms], 10, f"the {kind} banner painted")
    return found[0]["painted"] / 1000


def state_seen(rec: Recorder, state: str, after: float = 0.0) -> float:
    """When the subscriber received `state` on meeting/state, first after `after` (epoch seconds)."""
    seen = rec.wait_for(lambda: [m for m in rec.on("meeting/state") if m.at > after and m.json()["state"] == state],
                        30, f"state {state}")
    return seen[0].at


def transcripts(rec: Recorder) -> list[dict]:
    return rec.json_on("meeting/transcript")


def click_command(page, name: str) -> None:
    if page.is_hidden("#controls"):
        page.click("#controls-toggle")
    page.click(f"[data-command={name}]")


# -- the tests ----------------------------------------------------------------------------------------------


@pytest.mark.contention
def test_the_page_follows_the_meeting_as_it_is_published(tmp_path, mosquitto, emulator, pages):
    wav, planned = write_script_wav(tmp_path, MEETING)
    port = free_port()
    config = write_config(tmp_path, mosquitto, emulator.host_url, wav, port, meeting={"autostart": False})
    rec = Recorder(mosquitto, ["meeting/state", "meeting/transcript", "meeting/transcript/partial"])
    try:
        with DaemonThread(load_config(config)):
            # The controls' token comes with the address's fragment, which never reaches the server.
            watcher = pages(f"http://127.0.0.1:{port}/#command_token={COMMAND_TOKEN}")
            reader = pages(f"http://127.0.0.1:{port}/")
            for page in (watcher, reader):
                wait(lambda p=page: banner(p) == "not_transcribing", 10, "the idle banner")
            assert "command_token" not in watcher.url
            click_command(watcher, "start")
            rec.wait_for(lambda: len(transcripts(rec)) >= 2, 30, "two utterances")
            reader.reload()  # in mid-meeting: the page shows the whole meeting once
            rec.wait_for(lambda: len(transcripts(rec)) >= len(planned), 30, "the whole meeting")
            published = [(u["seq"], u["speaker"], u["text"]) for u in transcripts(rec)]
            for page in (watcher, reader):
                wait(lambda p=page: len(lines(p)) >= len(published), 10, "every line on the page")
            assert lines(watcher) == published and lines(reader) == published
            assert [text for _, _, text in published] == [p.text for p in planned]
            # Every partial the broker carried was drawn, in order, with its speaker: the emulator answers
            # hypotheses with a SpeakerId when intermediate diarization is asked for.
            partials = rec.json_on("meeting/transcript/partial")
            assert partials and all(p["speaker"] and p["speaker"].startswith("Guest-") for p in partials)
            drawn = metrics(watcher, "partial")
            assert [(m["speaker"], m["key"]) for m in drawn] == [(p["speaker"], p["text"]) for p in partials]
            assert all(m["shown"] == m["speaker"] for m in drawn)

            # Pause from the page: the answer is the published state; every open page shows it promptly.
            pause_clicked = time.time() * 1000
            click_command(watcher, "pause")
            paused_at = state_seen(rec, "paused", after=pause_clicked / 1000)
            for page in (watcher, reader):
                assert banner_painted(page, "paused", pause_clicked) - paused_at < BANNER_WITHIN_S
            wait(lambda: "the daemon says paused" in watcher.text_content("#command-result"), 10, "the answer")
            state = rec.json_on("meeting/state")[-1]
            assert state["state"] == "paused" and state["request_id"].startswith("web-")

            # Without the command token the page cannot command: the server answers 401 (a wrong token too).
            statuses = reader.evaluate("""async () => Promise.all([{}, {Authorization: 'Bearer wrong-token-123456'},
                    {Authorization: 'Basic ' + btoa('x:y')}].map(async headers =>
                (await fetch('/api/commands/resume', {method: 'POST', headers})).status))""")
            assert statuses == [401, 401, 401]
            click_command(reader, "resume")
            assert "Enter the command token first" in reader.text_content("#command-result")
            time.sleep(0.3)
            assert rec.json_on("meeting/state")[-1]["state"] == "paused"  # nothing reached the daemon

            resumed = time.time() * 1000
            click_command(watcher, "resume")
            assert banner_painted(watcher, "live", resumed) - state_seen(rec, "transcribing", resumed / 1000) \
                < BANNER_WITHIN_S
            stop_clicked = time.time() * 1000
            click_command(watcher, "stop")
            banner_painted(reader, "not_transcribing", stop_clicked)
            wait(lambda: "ending" in reader.text_content("#banner-detail")
                 or "No meeting" in reader.text_content("#banner-detail"), 10, "the banner's reason")
    finally:
        rec.close()


@pytest.mark.contention
def test_the_banner_follows_speech_service_and_microphone_problems_and_the_page_survives_a_restart(
        tmp_path, mosquitto, emulator, pages):
    wav, planned = write_script_wav(tmp_path, "Guest-1: We start with the budget today.\n"
                                              "Guest-2: The budget looks fine to me.\n[silence 10]\n")
    port = free_port()
    config = write_config(tmp_path, mosquitto, emulator.host_url, wav, port)
    rec = Recorder(mosquitto, ["meeting/state", "meeting/transcript", "meeting/speech_connection"])

    def said(meeting: int) -> list[tuple[int, str, str]]:
        """The lines of the first or second meeting, as published."""
        published = transcripts(rec)
        ids = list(dict.fromkeys(u["meeting_id"] for u in published))
        return [(u["seq"], u["speaker"], u["text"]) for u in published
                if len(ids) > meeting and u["meeting_id"] == ids[meeting]]

    try:
        with DaemonThread(load_config(config)):
            page = pages(f"http://127.0.0.1:{port}/")
            rec.wait_for(lambda: transcripts(rec), 30, "the first utterance")
            wait(lambda: banner(page) == "live", 10, "the live banner")
            # The speech service goes away: the session is lost and cannot be re-established for now.
            broken = time.time()
            emulator.refuse_upgrades(503)
            emulator.close_connections(1011, "emulated outage")
            recovering = state_seen(rec, "recovering", broken)
            assert banner_painted(page, "speech", broken * 1000) - recovering < BANNER_WITHIN_S
            assert "SPEECH SERVICE UNREACHABLE" in page.text_content("#banner")
            emulator.accept_upgrades()
            back = state_seen(rec, "transcribing", recovering)
            assert banner_painted(page, "live", recovering * 1000) - back < BANNER_WITHIN_S
            # The file ends: the meeting has no audio, which the page calls a microphone problem.
            no_audio = state_seen(rec, "no_audio", back)
            assert banner_painted(page, "microphone", back * 1000) - no_audio < BANNER_WITHIN_S
            assert "MICROPHONE PROBLEM" in page.text_content("#banner")
            assert lines(page) == said(0)
        # The daemon is gone: the page says so instead of showing a stale state.
        wait(lambda: banner(page) == "offline", 10, "the no-connection banner")
        assert page.get_attribute("#link", "data-up") == "false"
        with DaemonThread(load_config(config)):
            # The page comes back by itself, with the new meeting (a restart starts one), each line once.
            rec.wait_for(lambda: said(1), 30, "the new meeting's first utterance")
            wait(lambda: lines(page) == said(1), 20, "the page with the new meeting's lines")
            assert page.get_attribute("#link", "data-up") == "true" and banner(page) == "live"
    finally:
        rec.close()
