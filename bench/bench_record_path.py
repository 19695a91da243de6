"""The record path, before and after the journal, side by side in one run: what an utterance costs the disk
and how long it takes from the Speech SDK to the wire.

    git archive 5545b0b | tar -x -C /tmp/rs-main          # the roomscribe to compare with
    python bench/bench_record_path.py --before /tmp/rs-main [--utterances 100] [--rounds 1]

Each version runs as `roomscribe run` in a process of its own (bench/record_path_probe.py, with PYTHONPATH
naming that version), its state directory on this machine's disk, against the emulator and a private
Mosquitto on loopback, through a small TCP proxy that notes when each PUBLISH leaves the daemon. A meeting
of `--utterances` tone-speech lines (voice stage off) is started over MQTT once the daemon is up, so the
start-up is not counted. Per version and round, two runs:
* counts: `strace -c -f -e trace=fsync,fdatasync -p PID` attached for the meeting only, and the process's
  write_bytes from /proc/PID/io (bytes it caused to be written to storage) over the same window, which
  ends once the last transcript is out and 2 s more for its PUBACK;
* latency: no strace (it stops the process at every system call); the SDK's final result (stamped on its
  callback thread by the probe, sent as UDP) -> the PUBLISH of that transcript at the proxy; p50/p99/max.
Figures, not assertions: the machine is shared. Compare the columns of one run.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from roomscribe.emulator.thread import EmulatorThread  # noqa: E402
from tests.support.daemon_harness import write_script_wav  # noqa: E402
from tests.support.mosquitto import Mosquitto, Recorder, free_port  # noqa: E402

KEY = "bench-key"
WORDS = "budget agenda numbers march quarter review plan team room item next week sales report office".split()


def meeting_script(utterances: int, seed: int = 11) -> str:
    rng = random.Random(seed)
    lines = [f"Guest-{rng.randint(1, 3)}: {' '.join(rng.choice(WORDS) for _ in range(rng.randint(3, 6))).capitalize()}."
             for _ in range(utterances)]
    return "[silence 1]\n" + "\n[silence 1]\n".join(lines) + "\n[silence 2]\n"


class WireProxy:
    """Loopback TCP proxy daemon -> broker; notes (time, topic, payload) of every PUBLISH the daemon sends."""

    def __init__(self, broker_port: int):
        self.port = free_port()
        self.publishes: list[tuple[float, str, bytes]] = []
        self._broker_port = broker_port
        self._server = socket.create_server(("127.0.0.1", self.port))
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            client, _ = self._server.accept()
            upstream = socket.create_connection(("127.0.0.1", self._broker_port))
            for sock in (client, upstream):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            threading.Thread(target=self._pump, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, False), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, parse: bool) -> None:
        buffer = b""
        try:
            while chunk := src.recv(65536):
                now = time.time()
                dst.sendall(chunk)
                if parse:
                    buffer = self._packets(buffer + chunk, now)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                sock.close()

    def _packets(self, data: bytes, now: float) -> bytes:
        while len(data) >= 2:
            length, shift, i = 0, 0, 1
            while i < len(data) and i <= 4:
                length |= (data[i] & 0x7F) << shift
                shift += 7
                i += 1
                if data[i - 1] < 0x80:
                    break
            else:
                return data
            if len(data) < i + length:
                return data
            kind, body, data = data[0], data[i:i + length], data[i + length:]
            if kind >> 4 == 3:  # PUBLISH (MQTT 3.1.1: no properties)
                topic_len = int.from_bytes(body[:2], "big")
                skip = 2 + topic_len + (2 if (kind >> 1) & 3 else 0)
                self.publishes.append((now, body[2:2 + topic_len].decode(), body[skip:]))
        return data

    def transcripts(self) -> list[tuple[float, dict]]:
        return [(at, json.loads(p)) for at, topic, p in list(self.publishes) if topic == "meeting/transcript"]


class Stamps:
    """The probe's UDP datagrams: (SDK final result time, text)."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.address = f"127.0.0.1:{self.sock.getsockname()[1]}"
        self.finals: list[tuple[float, str]] = []
        threading.Thread(target=self._receive, daemon=True).start()

    def _receive(self) -> None:
        while True:
            at, text = self.sock.recv(65536).decode().split("\t", 1)
            self.finals.append((float(at), text))


def write_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/io").read_text().splitlines():
        if line.startswith("write_bytes:"):
            return int(line.split()[1])
    raise RuntimeError("no write_bytes in /proc/PID/io")


def one_run(version: Path, label: str, wav: Path, work: Path, broker: Mosquitto, emulator, utterances: int,
            strace: bool) -> dict:
    proxy, stamps = WireProxy(broker.port), Stamps()
    state = work / f"{label}-{'counts' if strace else 'latency'}"
    state.mkdir(parents=True)
    config = state / "config.yaml"
    config.write_text(json.dumps({
        "room": "bench", "mqtt": {"host": "127.0.0.1", "port": proxy.port, "discovery": False},
        "speech": {"host": emulator.host_url, "key": KEY}, "meeting": {"autostart": False},
        "audio": {"source": "file", "file": str(wav), "speed": 2.0, "vad": {"enabled": False}},
    }))
    env = {**os.environ, "PYTHONPATH": f"{version / 'daemon'}{os.pathsep}{REPO}", "STATE_DIRECTORY": str(state),
           "STAMPS": stamps.address}
    proc = subprocess.Popen([sys.executable, str(REPO / "bench" / "record_path_probe.py"), "-c", str(config)],
                            env=env, stdout=subprocess.DEVNULL, stderr=open(state / "daemon.log", "wb"), cwd=state)
    watch = Recorder(broker, ["meeting/availability", "meeting/state"])
    tracer = None
    try:
        watch.wait_for(lambda: any(m.payload == b"online" for m in watch.on("meeting/availability")), 60, "online")
        if strace:
            tracer = subprocess.Popen(["strace", "-c", "-f", "-e", "trace=fsync,fdatasync", "-p", str(proc.pid),
                                       "-o", str(state / "strace.txt")], stderr=subprocess.DEVNULL)
            time.sleep(1.0)  # strace attaches to every thread
        written = write_bytes(proc.pid)
        watch.publish("meeting/start", b"{}")
        deadline = time.monotonic() + 60 + utterances * 5
        while len(proxy.transcripts()) < utterances and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(2.0)  # the last PUBACK, and what it causes
        written = write_bytes(proc.pid) - written
        if tracer is not None:
            tracer.send_signal(signal.SIGINT)
            tracer.wait(20)
        watch.publish("meeting/stop", b"{}")
        time.sleep(1.0)
    finally:
        watch.close()
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
    sent = proxy.transcripts()
    result = {"utterances": len(sent), "write_bytes": written,
              "files": sorted(p.name for p in state.iterdir() if ".sqlite3" in p.name)}
    if strace:
        result["syncs"] = syncs_of(state / "strace.txt")
    else:
        result["latency"] = latencies(stamps.finals, sent)
    return result


def syncs_of(summary: Path) -> int:
    total = 0
    for line in summary.read_text().splitlines():
        fields = line.split()
        if fields and fields[-1] in ("fsync", "fdatasync"):
            total += int(fields[3])  # % time, seconds, usecs/call, calls, [errors,] syscall
    return total


def latencies(finals: list[tuple[float, str]], sent: list[tuple[float, dict]]) -> list[float]:
    """SDK final -> PUBLISH, pairing equal texts in order."""
    pairs, position = [], 0
    for at, payload in sent:
        for index in range(position, len(finals)):
            if finals[index][1] == payload["text"]:
                pairs.append(at - finals[index][0])
                position = index + 1
                break
    return pairs


def quantiles(values: list[float]) -> str:
    ms = sorted(v * 1000 for v in values)
    if len(ms) < 2:
        return "no samples"
    p99 = statistics.quantiles(ms, n=100, method="inclusive")[98]
    return f"p50 {statistics.median(ms):.2f}  p99 {p99:.2f}  max {ms[-1]:.2f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before", type=Path, required=True, help="a checkout of the roomscribe to compare with")
    parser.add_argument("--utterances", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--latency-only", action="store_true", help="skip the strace runs")
    args = parser.parse_args()
    versions = {"before": args.before.resolve(), "after": REPO}
    results: dict[str, list[dict]] = {name: [] for name in versions}
    with tempfile.TemporaryDirectory(prefix="rs-record-path-", dir=os.environ.get("BENCH_DIR", "/var/tmp")) as tmp:
        work = Path(tmp)
        wav, _ = write_script_wav(work, meeting_script(args.utterances))
        broker = Mosquitto(work).start()
        try:
            with EmulatorThread(key=KEY) as emulator:
                for round_ in range(args.rounds):
                    for strace in ((False,) if args.latency_only else (True, False)):
                        for name, version in versions.items():
                            print(f"round {round_ + 1}: {name}, {'counts' if strace else 'latency'}", flush=True)
                            results[name].append(one_run(version, f"{name}-{round_}", wav, work, broker, emulator,
                                                         args.utterances, strace))
        finally:
            broker.stop()
    print(f"\n{args.utterances}-utterance meeting, speed 2, on {work.parent} "
          f"({subprocess.run(['df', '--output=fstype', str(work.parent)], capture_output=True, text=True).stdout.split()[-1]})")
    for name, runs in results.items():
        counted = [r for r in runs if "syncs" in r]
        timed = [r for r in runs if "latency" in r]
        n = sum(r["utterances"] for r in counted) or 1
        print(f"{name:7s} files: {', '.join(runs[0]['files'])}")
        if counted:
            print(f"{name:7s} fsync+fdatasync per utterance: {sum(r['syncs'] for r in counted) / n:.2f} "
                  f"({[r['syncs'] for r in counted]} for {[r['utterances'] for r in counted]})")
        print(f"{name:7s} bytes written per utterance: "
              f"{[round(r['write_bytes'] / max(1, r['utterances'])) for r in runs]} (counts, latency runs)")
        print(f"{name:7s} SDK final -> PUBLISH: {quantiles([v for r in timed for v in r['latency']])}; "
              f"per run p50 {[round(statistics.median(r['latency']) * 1000, 2) for r in timed]} ms, "
              f"the five slowest {sorted(round(v * 1000) for r in timed for v in r['latency'])[-5:]} ms")


if __name__ == "__main__":
    main()
