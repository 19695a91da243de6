"""The live page, measured: latency in a real browser, and what open pages cost the daemon.

    python bench/bench_web.py [--utterances 40] [--window 30] [--rounds 2] [--only latency|cost]

**latency** The real daemon on a thread of this process (as bench_latency.py runs it) plays a tone-speech
meeting at twice real time, with intermediate diarization, to the emulator; a subscriber records when each
partial arrives from Mosquitto, and one page in Debian's chromium records when it received each record and
when the frame showing it was painted (`window.roomscribe.metrics`: requestAnimationFrame, then a timeout,
so just after the paint). All clocks are this machine's wall clock. Printed, p50 / p99 / max:
* MQTT partial -> painted on the page (matched on their text; both leave the daemon's fan-out at once);
* speech onset at the emulator -> first caption painted: for each phrase, the moment the emulator received
  the audio byte at the phrase's start (its offset in the stream), to the first partial of that phrase the
  page painted. This includes what the recognizer needs to hear before it says anything.

**cost** Two daemon processes (`roomscribe run`, log level warning) play the same meeting in a loop at real
time against one emulator and one broker: A serves the page, B has `web.enabled: false`. Over alternating
windows A has no page open, then 10 pages (10 browser windows, each with its feed); their CPU time comes from
/proc. B runs through the same windows as the control for the machine's noise: the figure is A's CPU over B's,
with 10 pages against none. Their resident memory is the page server's cost (aiohttp imported, server up).
`--control` runs both without the page (A/A): the spread between two like processes.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common import MACHINE  # noqa: E402

from roomscribe.config import settings_from_data  # noqa: E402
from roomscribe.core.audio_format import BYTES_PER_SECOND  # noqa: E402
from roomscribe.emulator.thread import EmulatorThread  # noqa: E402
from tests.support.daemon_harness import TONE_SPEECH, DaemonThread, write_script_wav  # noqa: E402
from tests.support.mosquitto import Mosquitto, Recorder, free_port  # noqa: E402
from tests.support.web_page import launch_chromium  # noqa: E402

WORDS = ("budget agenda numbers march quarter review plan team room item next week sales report office "
         "project deadline meeting notes question answer design release test customer order").split()
TICKS_PER_MS = 10_000
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def meeting_script(utterances: int, seed: int = 3, gap_s: float = 1.0) -> str:
    import random

    rng = random.Random(seed)
    lines = []
    for _ in range(utterances):
        words = [rng.choice(WORDS) for _ in range(rng.randint(5, 10))]
        lines.append(f"Guest-{rng.randint(1, 3)}: {' '.join(words).capitalize()}.")
        lines.append(f"[silence {gap_s}]")
    return "\n".join(lines) + "\n"


def spread(values: list[float]) -> str:
    if not values:
        return "no samples"
    ordered = sorted(values)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    median = statistics.median(ordered)
    return f"p50 {median:7.1f} ms   p99 {p99:7.1f} ms   max {ordered[-1]:7.1f} ms   (n={len(ordered)})"


def words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9']+", text.lower())


def until(page, expression: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not page.evaluate(expression):
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {expression}")
        time.sleep(0.05)


# -- latency ----------------------------------------------------------------------------------------------


def bench_latency(utterances: int, browser) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-web-") as tmp_name, EmulatorThread(key="k") as emulator:
        tmp = Path(tmp_name)
        broker = Mosquitto(tmp).start()
        try:
            wav, planned = write_script_wav(tmp, meeting_script(utterances))
            port = free_port()
            settings = settings_from_data({
                "room": "bench", "log": {"level": "warning"},
                "mqtt": {"host": broker.host, "port": broker.port, "outbox_path": str(tmp / "outbox.sqlite3")},
                "archive": {"path": str(tmp / "archive.sqlite3")},
                "speech": {"host": emulator.host_url, "key": "k", "diarize_intermediates": True},
                "audio": {"source": "file", "file": str(wav), "speed": 2.0, **TONE_SPEECH},
                "meeting": {"autostart": False}, "web": {"port": port},
            })
            rec = Recorder(broker, ["meeting/transcript", "meeting/transcript/partial"])
            with DaemonThread(settings) as runner:
                page = browser.new_context(viewport={"width": 1100, "height": 700}).new_page()
                page.goto(f"http://127.0.0.1:{port}/")
                until(page, "document.getElementById('banner').dataset.kind === 'not_transcribing'")
                from roomscribe.outputs.mqtt.commands import Command

                runner.daemon.on_command(Command("start", "bench"))
                rec.wait_for(lambda: len(rec.on("meeting/transcript")) >= len(planned), 60 + 4 * utterances,
                             "the whole meeting")
                until(page, f"document.querySelectorAll('#lines li.line').length >= {len(planned)}")
                time.sleep(0.5)  # the last paints
                drawn = page.evaluate("window.roomscribe.metrics.filter(m => m.kind === 'partial' && m.painted)")
            rec.close()
        finally:
            broker.stop()
        partials = [(m.at, m.json()["text"]) for m in rec.on("meeting/transcript/partial")]
        report_latency(partials, drawn, emulator, planned)


def report_latency(partials, drawn, emulator, planned) -> None:
    # MQTT partial -> painted: the i-th partial with a text is matched with the page's next one with that text.
    painted_by_text: dict[str, list[float]] = {}
    received_by_text: dict[str, list[float]] = {}
    for m in drawn:
        painted_by_text.setdefault(m["key"], []).append(m["painted"] / 1000)
        received_by_text.setdefault(m["key"], []).append(m["received"] / 1000)
    to_paint, to_receive = [], []
    for at, text in partials:
        if painted_by_text.get(text):
            to_paint.append((painted_by_text[text].pop(0) - at) * 1000)
            to_receive.append((received_by_text[text].pop(0) - at) * 1000)
    print(f"partials: {len(partials)} on MQTT, {len(drawn)} painted, {len(to_paint)} matched")
    print(f"  MQTT partial -> received by the page's script:  {spread(to_receive)}")
    print(f"  MQTT partial -> painted on the page:            {spread(to_paint)}")

    # Speech onset at the emulator -> the phrase's first caption painted.
    frames = [f for f in emulator.record.audio_frames() if f.kind == "pcm" and f.stream_offset is not None]
    onsets = []
    for phrase in emulator.record.phrases():
        onset_byte = phrase.offset_ticks // TICKS_PER_MS * BYTES_PER_SECOND // 1000
        frame = next((f for f in frames if f.audio_session_id == phrase.audio_session_id
                      and f.stream_offset <= onset_byte < f.stream_offset + f.size), None)
        if frame is not None:
            onsets.append((frame.arrived_at, words(phrase.text)))
    captions = [(m["painted"] / 1000, words(m["key"])) for m in sorted(drawn, key=lambda m: m["painted"])]
    delays = []
    for onset, said in onsets:
        first = next((painted for painted, shown in captions if painted >= onset and shown
                      and shown == said[:len(shown)]), None)
        if first is not None:
            delays.append((first - onset) * 1000)
    print(f"phrases: {len(planned)} planned, {len(onsets)} located in the emulator's audio, {len(delays)} captioned")
    print(f"  speech onset at the emulator -> first caption:  {spread(delays)}")


# -- cost: CPU with pages open, memory --------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def memory_mb(pid: int) -> tuple[float, float]:
    """(VmRSS, VmHWM) in MB."""
    found = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            found[key] = int(value.split()[0]) / 1024
    return found["VmRSS"], found["VmHWM"]


def daemon_config(path: Path, *, name: str, broker: Mosquitto, emulator_url: str, wav: Path, web: dict) -> Path:
    workdir = path.parent / name
    workdir.mkdir()
    path.write_text(
        f"room: {name}\n"
        f"mqtt:\n  host: 127.0.0.1\n  port: {broker.port}\n  base_topic: bench/{name}\n  client_id: bench-{name}\n"
        f"  discovery: false\n  outbox_path: {workdir / 'outbox.sqlite3'}\n"
        f"archive:\n  path: {workdir / 'archive.sqlite3'}\n"
        f"speech:\n  host: {emulator_url}\n  key: k\n"
        f"audio:\n  source: file\n  file: {wav}\n  speed: 1.0\n  loop: true\n  vad:\n    enabled: false\n"
        f"web: {web}\n"
        "log:\n  level: warning\n"
    )
    return path


def bench_cost(window_s: float, rounds: int, browser, *, page_off: bool = False) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-web-cost-") as tmp_name, EmulatorThread(key="k") as emulator:
        tmp = Path(tmp_name)
        broker = Mosquitto(tmp).start()
        port = free_port()
        wav, planned = write_script_wav(tmp, meeting_script(12, seed=5))
        configs = {
            "page": daemon_config(tmp / "page.yaml", name="page", broker=broker, emulator_url=emulator.host_url,
                                  wav=wav, web={"enabled": False} if page_off else {"port": port}),
            "no-page": daemon_config(tmp / "no-page.yaml", name="no-page", broker=broker,
                                     emulator_url=emulator.host_url, wav=wav, web={"enabled": False}),
        }
        children = {name: subprocess.Popen([sys.executable, "-m", "roomscribe", "run", "-c", str(config)],
                                           stdout=subprocess.DEVNULL, stderr=open(tmp / f"{name}.log", "w"))
                    for name, config in configs.items()}
        try:
            time.sleep(8)  # imports, the first session, the first phrases
            contexts = []
            windows = []
            for round_ in range(rounds):
                for pages in ((0, 0) if page_off else (0, 10)):
                    while len(contexts) > pages:
                        contexts.pop().close()
                    while len(contexts) < pages:
                        contexts.append(browser.new_context(viewport={"width": 800, "height": 600}))
                        contexts[-1].new_page().goto(f"http://127.0.0.1:{port}/")
                    time.sleep(2)  # the pages' catch-up is done; what is measured is the steady state
                    before = {name: cpu_seconds(child.pid) for name, child in children.items()}
                    time.sleep(window_s)
                    after = {name: cpu_seconds(child.pid) for name, child in children.items()}
                    windows.append((pages, {name: after[name] - before[name] for name in children}))
            for context in contexts:
                context.close()
            memory = {name: memory_mb(child.pid) for name, child in children.items()}
        finally:
            for child in children.values():
                child.terminate()
            for child in children.values():
                child.wait(30)
            broker.stop()
    if page_off:
        print("A/A control: both daemons without the page; the ratios show the noise between two processes:")
        for _, w in windows:
            a, b = w["page"] / window_s * 60, w["no-page"] / window_s * 60
            print(f"  {a:10.3f} {b:10.3f} {w['page'] / w['no-page']:7.3f}")
        return
    print(f"daemon CPU, s per minute of wall time ({rounds} rounds of {window_s:g} s windows each):")
    print(f"  {'pages open':>10s} {'with page':>10s} {'no page':>10s} {'ratio':>7s}")
    for pages in (0, 10):
        rows = [w for p, w in windows if p == pages]
        for w in rows:
            print(f"  {pages:10d} {w['page'] / window_s * 60:10.3f} {w['no-page'] / window_s * 60:10.3f} "
                  f"{w['page'] / w['no-page']:7.3f}")
    ratio = {pages: statistics.mean(w["page"] / w["no-page"] for p, w in windows if p == pages) for pages in (0, 10)}
    print(f"  10 pages against none (ratio of ratios): {ratio[10] / ratio[0]:.3f}x")
    extra = statistics.mean(w["page"] for p, w in windows if p == 10) - statistics.mean(
        w["page"] for p, w in windows if p == 0)
    print(f"  CPU the 10 pages add to the daemon: {extra / window_s * 100:.2f} % of one core")
    print("resident memory, MB (VmRSS now / VmHWM peak):")
    for name, (rss, hwm) in memory.items():
        print(f"  {name:8s} {rss:6.1f} / {hwm:6.1f}")
    print(f"  the page server's cost: {memory['page'][0] - memory['no-page'][0]:+.1f} MB resident, "
          f"{memory['page'][1] - memory['no-page'][1]:+.1f} MB peak")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--utterances", type=int, default=40)
    parser.add_argument("--window", type=float, default=30.0, help="seconds per CPU window")
    parser.add_argument("--rounds", type=int, default=2, help="rounds of (no page, 10 pages) windows")
    parser.add_argument("--only", choices=("latency", "cost"))
    parser.add_argument("--control", action="store_true",
                        help="cost: an A/A run, both daemons without the page (the noise between two processes)")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    print(f"bench_web; machine: {MACHINE}")
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        if args.only in (None, "latency"):
            bench_latency(args.utterances, browser)
        if args.only in (None, "cost"):
            bench_cost(args.window, args.rounds, browser, page_off=args.control)
        browser.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
