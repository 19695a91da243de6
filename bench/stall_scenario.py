"""One speech-service outage, played for real: the daemon and the emulator as processes, the service stopped
(SIGSTOP, as a network black hole) or killed and started again on the same port, then back; or its open
connection turned into a black hole for good (a NAT that dropped the flow).

Used by tests/app/test_stall.py (asserts) and bench/bench_stall.py (figures). Each run has its own emulator
(`roomscribe emulator serve`), its own daemon (`roomscribe run`, a tone-speech file at real time, silence
suppression off), its own base topic on a shared Mosquitto, and reads the daemon's VmRSS from /proc. Runs are
meant to go side by side, each on threads of its own: `run_all`.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import paho.mqtt.client as mqtt
import yaml

from common import free_port
from roomscribe.core.records import from_iso_utc
from roomscribe.emulator.script import PlannedUtterance, parse_script, synthesize, write_wav

KEY = "stall-key"
LEAD_S = 20.0  # audio before the outage
AFTER_S = 25.0  # audio after the service is back


def meeting(seconds: float) -> tuple[object, list[PlannedUtterance]]:
    """Two people talking without a break (1 s between lines) for at least `seconds`: PCM and the plan."""
    lines = int(seconds / 2.0) + 1
    while True:
        script = "".join(f"Guest-{1 + i % 2}: Line {i} of the meeting.\n" for i in range(lines))
        pcm, planned = synthesize(parse_script(script))
        if planned[-1].end >= seconds:
            return pcm, planned
        lines += int((seconds - planned[-1].end) / 2.0) + 1


def rss_kib(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


@dataclass
class Outcome:
    name: str
    planned: list[PlannedUtterance]
    t0: float | None = None  # wall clock of the file's first sample, from the first utterance
    outage_began: float = 0.0  # wall clock
    outage_ended: float = 0.0
    transcripts: list[tuple[float, dict]] = field(default_factory=list)  # (arrival, payload)
    states: list[tuple[float, dict]] = field(default_factory=list)
    events: list[tuple[float, dict]] = field(default_factory=list)
    speech_connection: list[tuple[float, str]] = field(default_factory=list)
    rss: list[tuple[float, int]] = field(default_factory=list)  # (wall, KiB)
    daemon_exit: int | None = None
    log: str = ""

    def events_of(self, kind: str) -> list[dict]:
        return [e for _, e in self.events if e["kind"] == kind]

    def rss_at(self, wall: float) -> int:
        """The last sample at or before `wall`."""
        earlier = [kib for at, kib in self.rss if at <= wall]
        return earlier[-1] if earlier else self.rss[0][1]


class Scenario:
    """`kind`: "stall" (SIGSTOP … SIGCONT), "kill" (SIGKILL, then a new emulator on the same port after
    `seconds`) or "mute" (SIGUSR1: the open connection becomes a black hole for good, new ones work)."""

    def __init__(self, name: str, kind: str, seconds: float, broker_port: int, *, workdir: Path,
                 speech: dict | None = None, after_s: float = AFTER_S, timeout_s: float | None = None,
                 env: dict | None = None):
        self.name, self.kind, self.seconds = name, kind, seconds
        self.broker_port = broker_port
        self.dir = workdir / name
        self.dir.mkdir(parents=True, exist_ok=True)
        self.speech = speech or {}
        self.env = env or {}
        self.base = f"stall/{name}"
        self.audio_s = LEAD_S + seconds + after_s
        self.timeout_s = timeout_s or (self.audio_s + seconds + 120.0)
        pcm, planned = meeting(self.audio_s)
        self.wav = self.dir / "meeting.wav"
        write_wav(self.wav, pcm)
        self.outcome = Outcome(name, planned)
        self._emulator: subprocess.Popen | None = None
        self._daemon: subprocess.Popen | None = None
        self._port = free_port()
        self._lock = threading.Lock()
        self._stop_sampling = threading.Event()

    # -- the parts ---------------------------------------------------------------------------------

    def _start_emulator(self) -> None:
        path = self.dir / "emulator.log"
        seen = path.stat().st_size if path.exists() else 0
        self._emulator = subprocess.Popen(
            [sys.executable, "-m", "roomscribe", "emulator", "serve", "--port", str(self._port), "--key", KEY],
            stdout=open(path, "ab"), stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if b"listening on" in path.read_bytes()[seen:]:
                return
            if self._emulator.poll() is not None:
                break
            time.sleep(0.05)
        raise RuntimeError(f"{self.name}: the emulator did not start on port {self._port}")

    def _config(self) -> Path:
        path = self.dir / "config.yaml"
        path.write_text(yaml.safe_dump({
            "room": self.name.replace(".", "-"),
            "mqtt": {"host": "127.0.0.1", "port": self.broker_port, "base_topic": self.base, "discovery": False},
            "journal": {"path": str(self.dir / "journal.sqlite3")},
            # Runs go side by side: no two pages on one port (the page plays no part in an outage).
            "web": {"enabled": False},
            "speech": {"host": f"ws://127.0.0.1:{self._port}", "key": KEY, **self.speech},
            "audio": {"source": "file", "file": str(self.wav), "vad": {"enabled": False}},
            "log": {"level": "info"},
        }))
        return path

    def _subscribe(self) -> mqtt.Client:
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"stall-{self.name}-{os.getpid()}")

        def on_message(c, u, msg) -> None:
            now = time.time()
            sub = msg.topic.removeprefix(self.base + "/")
            with self._lock:
                if sub == "transcript":
                    self.outcome.transcripts.append((now, json.loads(msg.payload)))
                elif sub == "state":
                    self.outcome.states.append((now, json.loads(msg.payload)))
                elif sub == "event":
                    self.outcome.events.append((now, json.loads(msg.payload)))
                elif sub == "speech_connection":
                    self.outcome.speech_connection.append((now, msg.payload.decode()))

        client.on_message = on_message
        client.on_connect = lambda c, u, f, rc, p: c.subscribe(f"{self.base}/#", qos=1)
        client.connect("127.0.0.1", self.broker_port)
        client.loop_start()
        return client

    def _sample_rss(self) -> None:
        while not self._stop_sampling.wait(1.0):
            kib = rss_kib(self._daemon.pid) if self._daemon else None
            if kib is not None:
                self.outcome.rss.append((time.time(), kib))

    # -- the run -----------------------------------------------------------------------------------

    def run(self) -> Outcome:
        out = self.outcome
        client = self._subscribe()
        self._start_emulator()
        env = dict(os.environ, STATE_DIRECTORY=str(self.dir), **self.env)
        self._daemon = subprocess.Popen([sys.executable, "-m", "roomscribe", "run", "-c", str(self._config())],
                                        env=env, stdout=open(self.dir / "daemon.log", "wb"), stderr=subprocess.STDOUT)
        sampler = threading.Thread(target=self._sample_rss, name=f"rss-{self.name}", daemon=True)
        sampler.start()
        try:
            first = self._wait(lambda: out.transcripts[0][1] if out.transcripts else None, 60, "the first utterance")
            out.t0 = from_iso_utc(first["start"]) - out.planned[0].start
            time.sleep(max(0.0, out.t0 + LEAD_S - time.time()))
            out.outage_began = time.time()
            if self.kind == "stall":
                self._emulator.send_signal(signal.SIGSTOP)
            elif self.kind == "mute":
                self._emulator.send_signal(signal.SIGUSR1)
            else:
                self._emulator.kill()
                self._emulator.wait()
            time.sleep(max(0.0, out.outage_began + self.seconds - time.time()))
            out.outage_ended = time.time()
            if self.kind == "stall":
                self._emulator.send_signal(signal.SIGCONT)
            elif self.kind == "kill":
                self._start_emulator()
            self._wait(self._finished, self.timeout_s, "every utterance")
            time.sleep(5.0)  # RSS after the catch-up
        finally:
            self._stop_sampling.set()
            sampler.join()
            self._daemon.send_signal(signal.SIGTERM)
            try:
                out.daemon_exit = self._daemon.wait(20)
            except subprocess.TimeoutExpired:
                self._daemon.kill()
                out.daemon_exit = self._daemon.wait()
            self._emulator.send_signal(signal.SIGCONT)
            self._emulator.terminate()
            self._emulator.wait(10)
            client.loop_stop()
            client.disconnect()
            out.log = (self.dir / "daemon.log").read_text(errors="replace")
        return out

    def _finished(self) -> bool:
        """Every planned utterance published, or the file over, caught up, and nothing new for 20 s."""
        out = self.outcome
        with self._lock:
            if len(out.transcripts) >= len(out.planned):
                return True
            last = out.transcripts[-1][0] if out.transcripts else 0.0
            caught_up = any(e["kind"] == "speech_caught_up" for _, e in out.events)
        over = out.t0 is not None and time.time() > out.t0 + self.audio_s + 5
        return over and caught_up and time.time() - last > 20

    def _wait(self, predicate, timeout: float, what: str):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = predicate()
            if value:
                return value
            if self._daemon.poll() is not None:
                raise RuntimeError(f"{self.name}: the daemon exited ({self._daemon.returncode}) waiting for {what}")
            time.sleep(0.1)
        raise TimeoutError(f"{self.name}: no {what} within {timeout:.0f} s")


def run_all(scenarios: list[Scenario]) -> list[Outcome | BaseException]:
    """Side by side, each on a thread; a run that raised gives its exception."""
    results: list[Outcome | BaseException] = [RuntimeError("did not run")] * len(scenarios)

    def one(i: int) -> None:
        try:
            results[i] = scenarios[i].run()
        except BaseException as exc:  # noqa: BLE001  (handed to the caller)
            results[i] = exc

    threads = [threading.Thread(target=one, args=(i,), name=s.name) for i, s in enumerate(scenarios)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def workdir() -> Path:
    return Path(tempfile.mkdtemp(prefix="stall-"))
