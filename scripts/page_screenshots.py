"""Screenshots of the live page for the docs, from a real run: daemon, emulator, Mosquitto, chromium.

    .venv/bin/python scripts/page_screenshots.py [--out docs/images]

Plays a short three-person meeting in tone speech through the real daemon (intermediate diarization on,
so the line being spoken carries its speaker), and photographs the page as a desk screen shows it
(live-page.png), in large type on a TV (live-page-large.png), and on a phone while paused
(live-page-phone.png).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from playwright.sync_api import sync_playwright  # noqa: E402

from roomscribe.config import settings_from_data  # noqa: E402
from roomscribe.emulator.thread import EmulatorThread  # noqa: E402
from tests.support.daemon_harness import TONE_SPEECH, DaemonThread, write_script_wav  # noqa: E402
from tests.support.mosquitto import Mosquitto, free_port  # noqa: E402
from tests.support.web_page import launch_chromium  # noqa: E402

MEETING = """\
Guest-1: Good morning everyone, welcome to the weekly review.
Guest-2: Thanks. Sales in March were up four percent on February.
Guest-3: The new office is ready, we move in on the first of May.
Guest-1: Great news. Who takes care of the network and the screens?
Guest-2: I will ask the facilities team and report back on Friday.
Guest-3: Then the budget for travel is the last item on the agenda.
Guest-1: Let us keep the travel budget as it is for this quarter.
[silence 20]
"""
TOKEN = "screenshot-controls-0123"


def until(page, expression: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not page.evaluate(expression):
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {expression}")
        time.sleep(0.02)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "images")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        broker = Mosquitto(tmp).start()
        emulator = EmulatorThread(key="k").start()
        wav, planned = write_script_wav(tmp, MEETING)
        port = free_port()
        settings = settings_from_data({
            "room": "boardroom",
            "mqtt": {"host": broker.host, "port": broker.port, "outbox_path": str(tmp / "outbox.sqlite3")},
            "archive": {"path": str(tmp / "archive.sqlite3")},
            "speech": {"host": emulator.host_url, "key": "k", "diarize_intermediates": True},
            "audio": {"source": "file", "file": str(wav), "speed": 1.0, **TONE_SPEECH},
            "web": {"port": port, "command_token": TOKEN},
        })
        try:
            with DaemonThread(settings), sync_playwright() as playwright:
                browser = launch_chromium(playwright)
                desk = browser.new_context(viewport={"width": 1100, "height": 640}).new_page()
                desk.goto(f"http://127.0.0.1:{port}/")
                tv = browser.new_context(viewport={"width": 1280, "height": 720}).new_page()
                tv.goto(f"http://127.0.0.1:{port}/?large=1")
                phone = browser.new_context(viewport={"width": 390, "height": 760}, device_scale_factor=2,
                                            is_mobile=True, has_touch=True).new_page()
                phone.goto(f"http://127.0.0.1:{port}/#command_token={TOKEN}")
                # The desk: five lines said, the sixth being spoken (a partial with its speaker).
                until(desk, "document.querySelectorAll('#lines li.line').length === 5 && "
                            "document.querySelector('#partial .text').textContent.split(' ').length >= 6")
                desk.screenshot(path=str(args.out / "live-page.png"))
                tv.screenshot(path=str(args.out / "live-page-large.png"))
                until(phone, "document.querySelectorAll('#lines li.line').length === 7")
                phone.click("#controls-toggle")
                phone.click("[data-command=pause]")
                until(phone, "document.getElementById('banner').dataset.kind === 'paused' && "
                             "document.getElementById('command-result').textContent.includes('paused')")
                phone.click("#controls-toggle")
                phone.screenshot(path=str(args.out / "live-page-phone.png"))
                browser.close()
        finally:
            emulator.stop()
            broker.stop()
    for name in ("live-page.png", "live-page-large.png", "live-page-phone.png"):
        print(args.out / name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
