"""The body of `roomscribe demo` (imported only when the demo runs: it pulls in numpy, paho, the SDK).

The daemon runs on this thread's event loop, as `roomscribe run` runs it (`run_daemon`); the room
controller's script runs on a thread beside it and talks to the daemon as a room does, over MQTT. It
reads the daemon only through its public surface: the figures of `Daemon.diagnostics()` and, to act at
the right point of the recording, how far the file source has played.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt

from roomscribe.app.daemon import Daemon
from roomscribe.app.run import run_daemon
from roomscribe.audio.wavfile import WavFileSource
from roomscribe.config import Settings, settings_from_data
from roomscribe.core.gate import GateStats
from roomscribe.emulator.script import PlannedUtterance
from roomscribe.system import exitcodes
from roomscribe.core.audio_format import BYTES_PER_SECOND
from roomscribe.demo.script import SECRET_LINE
from roomscribe.demo.broker import DemoBroker
from roomscribe.emulator.thread import EmulatorThread
from roomscribe.demo.meeting_audio import demo_meeting
from roomscribe.emulator.script import write_wav
from roomscribe.emulator.decode import decode
from roomscribe.demo.privacy_audit import leak as private_span_sent
from roomscribe.demo.privacy_audit import sent_seconds

BASE = "meeting"


class _Printer:
    """An MQTT subscriber that prints what a dashboard would show."""

    def __init__(self, port: int, t0: float):
        self.t0 = t0
        self.transcripts: list[dict] = []
        self.states: list[dict] = []
        self.cost: float | None = None  # audio_sent_s of meeting_ended
        self._lock = threading.Lock()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="roomscribe-demo-viewer")
        self.client.on_connect = lambda c, u, f, rc, p: c.subscribe(f"{BASE}/#", qos=1)
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def say(self, text: str) -> None:
        with self._lock:
            print(f"[{time.time() - self.t0:5.1f}s] {text}", flush=True)

    def _on_message(self, client, userdata, msg) -> None:
        try:
            payload = json.loads(msg.payload) if msg.payload[:1] in (b"{", b"[") else msg.payload.decode()
        except ValueError:
            return
        if msg.topic == f"{BASE}/state":
            self.states.append(payload)
            detail = payload.get("detail")
            extra = f" ({detail})" if detail and detail != payload["state"] else ""
            self.say(f"state        {payload['state']}{extra}")
        elif msg.topic == f"{BASE}/transcript":
            self.transcripts.append(payload)
            start, end = _clock(payload["start"]), _clock(payload["end"])
            self.say(f"transcript   #{payload['seq']} {payload['speaker']} {start}-{end}  {payload['text']}")
        elif msg.topic == f"{BASE}/event" and isinstance(payload, dict):
            if payload.get("kind") == "meeting_ended" and isinstance(payload.get("detail"), dict):
                self.cost = payload["detail"].get("audio_sent_s")
            if payload.get("kind") not in {"audio_source_opened"}:
                self.say(f"event        {payload.get('kind')}")

    def command(self, name: str) -> None:
        self.say(f">>> a room controller publishes {BASE}/{name}")
        self.client.publish(f"{BASE}/{name}", json.dumps({"request_id": f"demo-{name}"}), qos=1)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def _clock(iso: str) -> str:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).astimezone().strftime("%H:%M:%S.%f")[:-3]


class DaemonEnded(RuntimeError):
    """The daemon stopped before the script was played out (SIGINT, or a failure it logged)."""


def _control(daemon: Daemon, ended: threading.Event, printer: _Printer,
             planned: list[PlannedUtterance]) -> tuple[GateStats, float | None]:
    """The room controller's script, on a thread beside the daemon's loop: pause before the secret, resume
    after it, stop at the end. Returns the gate's figures before the stop and the billed audio it reported."""
    source = daemon.source
    if not isinstance(source, WavFileSource):
        raise TypeError("the demo plays its meeting from a file")
    secret, before = planned[SECRET_LINE], planned[SECRET_LINE - 1]

    def wait_audio(seconds: float) -> None:
        # By what the source has delivered, not by the clock: on a busy machine its thread can fall
        # behind and catch up in a burst, and a resume timed by the clock would then let through
        # audio of the private sentence that was delivered after it (the gate works by order).
        while source.played_s < seconds:
            if ended.is_set():
                raise DaemonEnded("the daemon stopped before the meeting was played")
            time.sleep(0.005)

    # The controller acts well clear of the secret: 0.6 s of audio after the sentence before it
    # (the pause tail finishes that sentence), and 0.5 s after the secret ends.
    wait_audio(before.end + 0.6)
    printer.command("pause")
    wait_audio(secret.end + 0.5)
    printer.command("resume")
    wait_audio(planned[-1].end + 1.0)
    deadline = time.time() + 10
    while len(printer.transcripts) < len(planned) - 1 and time.time() < deadline:
        time.sleep(0.1)
    gate = daemon.diagnostics().gate.stats
    printer.command("stop")
    deadline = time.time() + 10
    while printer.cost is None and time.time() < deadline and not ended.is_set():
        time.sleep(0.05)
    return gate, printer.cost


async def _meeting(settings: Settings, printer: _Printer,
                   planned: list[PlannedUtterance]) -> tuple[GateStats, float | None]:
    """The daemon on this thread's loop until the controller's script is done."""
    stop = asyncio.Event()
    built: asyncio.Future[Daemon] = asyncio.get_running_loop().create_future()
    running = asyncio.create_task(run_daemon(settings, stop=stop, on_built=built.set_result))
    ended = threading.Event()
    running.add_done_callback(lambda task: ended.set())
    first: list[asyncio.Future[Any]] = [built, running]  # built, or it ended before (a failure)
    await asyncio.wait(first, return_when=asyncio.FIRST_COMPLETED)
    if not built.done():
        await running  # it failed before the owner was built: its error is the demo's
        raise DaemonEnded("the daemon ended before it was built")
    try:
        return await asyncio.to_thread(_control, built.result(), ended, printer, planned)
    finally:
        stop.set()
        await running


def run_demo(*, speed: float = 1.5, keep_dir: str | None = None, broker: str = "auto") -> int:
    work = Path(keep_dir) if keep_dir else Path(tempfile.mkdtemp(prefix="roomscribe-demo-"))
    work.mkdir(parents=True, exist_ok=True)
    pcm, planned = demo_meeting()  # voiced: real speech the voice stage hears, tones the emulator decodes
    wav = work / "meeting.wav"
    write_wav(wav, pcm)
    secret = planned[SECRET_LINE]
    print(f"roomscribe demo: a {len(pcm) / 16000:.0f} s meeting of {len(planned)} utterances, played {speed}x")
    print(f"  the controller pauses before the secret sentence ({secret.text!r}) and resumes after it\n")

    mqtt_broker = DemoBroker(broker).start()
    emulator = EmulatorThread(key="demo-key").start()
    settings = settings_from_data(
        {
            "room": "demo-room",
            "mqtt": {"host": "127.0.0.1", "port": mqtt_broker.port, "discovery": True},
            "journal": {"path": str(work / "journal.sqlite3")},
            "speech": {"host": emulator.host_url, "key": "demo-key"},
            # Silence suppression on, as users get it (audio.vad's defaults).
            "audio": {"source": "file", "file": str(wav), "speed": speed},
        }
    )
    printer = _Printer(mqtt_broker.port, time.time())
    printer.say(f"broker       {mqtt_broker.kind} on 127.0.0.1:{mqtt_broker.port}; "
                f"speech emulator on {emulator.host_url}")
    try:
        gate, cost = asyncio.run(_meeting(settings, printer, planned))
    except DaemonEnded as exc:
        print(f"roomscribe demo: {exc}")
        return exitcodes.FAILURE
    finally:
        time.sleep(0.3)
        printer.close()
        received = emulator.record.audio_bytes()
        emulator.stop()
        mqtt_broker.stop()

    heard = " ".join(p.text for p in decode(received))
    captured = wav.read_bytes()[44:]
    # The secret's voice starts a little before its words and may ring on after them: the private span
    # covers both (the controller pauses 1.4 s before it and resumes 0.5 s after it).
    leak = ("the service heard the secret" if secret.text in heard else None) or private_span_sent(
        received, captured, secret.start - 0.4, secret.end + 0.4
    )
    sound_s, silence_s = sent_seconds(received, captured)
    leaked = leak is not None
    published = [t["text"] for t in printer.transcripts]
    print("\nsummary")
    print(f"  utterances published:             {len(published)} of {len(planned)} spoken (1 was said while paused)")
    print(f"  speakers:                         {sorted({t['speaker'] for t in printer.transcripts})}")
    meeting_s = len(pcm) / 16000
    print(f"  audio sent to the speech service: {len(received) / BYTES_PER_SECOND:.1f} s of a {meeting_s:.1f} s meeting "
          f"({len(received) / BYTES_PER_SECOND / meeting_s:.0%}; silence suppressed): {sound_s:.1f} s of captured "
          f"audio, {silence_s:.2f} s of exact silence (gaps inside speech, phrase ends)")
    if cost is not None:
        print(f"  billed audio, as the daemon counts: {cost:.1f} s (meeting_ended)")
    print(f"  captured while paused, dropped:   {gate.dropped_after_close / BYTES_PER_SECOND:.1f} s, never buffered or sent")
    print(f"  silence sent to close phrases:    {gate.silence_bytes_written / BYTES_PER_SECOND:.2f} s")
    print(f"  secret sentence reached service:  {'no' if leak is None else 'YES - privacy failure: ' + leak}")
    if keep_dir:
        (work / "emulator-record.json").write_text(emulator.record.to_json())
        print(f"  files kept in {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)
    ok = not leaked and len(published) == len(planned) - 1 and all(secret.text not in t for t in published)
    return exitcodes.OK if ok else exitcodes.FAILURE
