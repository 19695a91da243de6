"""Footprint: the daemon's CPU time per audio minute and peak RSS against a bare SDK script, same audio.

    python bench/bench_footprint.py [--minutes 2] [--sequential]

Two separate processes play the same meeting at real time against two emulators in this process:
`python -m roomscribe run -c CONFIG` (the whole daemon: file source, gate, state machine, MQTT to a real
Mosquitto, SQLite journal) and `python bench/bare_push.py` (PushAudioInputStream + ConversationTranscriber and
nothing else) in the daemon's chunk size, twice: taking the final results only, and taking the partial
results too, as the daemon does to publish them. Each child's CPU time comes from os.wait4 (the kernel's
rusage of that child), its peak RSS from /proc.
CPU is also read from /proc/PID/stat while the audio streams, which leaves out start-up (imports) and
shutdown. All three run at once by default (the machine's two cores are shared anyway); --sequential runs
them one after the other.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from common import MACHINE, Broker, free_port, traceable_meeting, write_pcm_wav

from roomscribe.core.audio_format import BYTES_PER_SECOND, CHUNK_MS

BENCH_DIR = Path(__file__).resolve().parent
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
WARM_UP_S = 5.0  # steady state starts this long after the first audio reached the service

WORDS = ("the budget for next quarter looks fine but travel costs rose since March can you check the invoices "
         "yes I will do it by Friday great let us move on to hiring the office move and goals").split()


def meeting_script(minutes: float, seed: int = 5) -> str:
    """Three people taking turns with 4-12 word lines and now and then a longer silence."""
    rnd = random.Random(seed)
    lines, seconds = [], 0.0
    while seconds < minutes * 60 - 3:
        text = " ".join(rnd.choice(WORDS) for _ in range(rnd.randint(4, 12))).capitalize() + "."
        lines.append(f"{rnd.choice(['Ann', 'Ben', 'Cai'])}: {text}")
        seconds += len(text) * 0.064 + 1.0
        if rnd.random() < 0.15:
            gap = rnd.uniform(2, 5)
            lines.append(f"[silence {gap:.2f}]")
            seconds += gap - 1.0
    return "\n".join(lines) + "\n"


def peak_rss_mb(pid: int) -> float | None:
    """VmHWM of a live process: the peak resident set of its current program image.

    Not ru_maxrss: Linux carries the parent's peak over a fork and exec into the child's ru_maxrss, so
    every child of this (large) process would report at least this process's size.
    """
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except (FileNotFoundError, ProcessLookupError):
        pass
    return None


def cpu_seconds(pid: int) -> float | None:
    """utime + stime of a live process from /proc, or None once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def received_bytes(record) -> int:
    """Audio bytes an emulator's record holds, over all its diarization sessions."""
    return sum(len(record.audio_bytes(s)) for s in record.audio_session_ids())


@dataclass(frozen=True)
class Footprint:
    name: str
    cpu_s: float  # user + system, whole life of the process (os.wait4)
    user_s: float
    system_s: float
    peak_rss_mb: float  # VmHWM, last read shortly before the process ended
    steady_cpu_s: float  # while the audio streamed, start-up and shutdown left out
    steady_audio_s: float
    audio_s: float
    phrases: int  # final phrases the emulator sent: both did the same work
    exit_status: int
    wall_s: float


class Child:
    """A measured child process: started, watched for steady-state CPU, reaped with os.wait4."""

    def __init__(self, name: str, argv: list[str], emu, audio_bytes: int, log_path: Path, stop_when_done: bool):
        self.name, self.argv, self.emu = name, argv, emu
        self.audio_bytes = audio_bytes
        self.log_path = log_path
        self.stop_when_done = stop_when_done
        self.result: Footprint | None = None
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._guarded, name=f"measure-{name}", daemon=True)

    def start(self) -> "Child":
        self._thread.start()
        return self

    def join(self) -> Footprint:
        self._thread.join()
        if self.error is not None:
            raise self.error
        return self.result

    def _guarded(self) -> None:
        try:
            self.result = self._measure()
        except BaseException as exc:  # handed to join()
            self.error = exc

    @staticmethod
    def _watch_peak(process: subprocess.Popen, peak: list[float]) -> None:
        """Read VmHWM every 20 ms until the process is gone (VmHWM only grows, so the last read is the peak)."""
        while True:
            value = peak_rss_mb(process.pid)
            if value is None:
                return
            peak.append(value)
            time.sleep(0.02)

    def _received(self) -> int:
        return received_bytes(self.emu.record)

    def _measure(self) -> Footprint:
        with open(self.log_path, "wb") as log:
            process = subprocess.Popen(self.argv, stdout=log, stderr=subprocess.STDOUT, cwd=BENCH_DIR.parent)
        started = time.monotonic()
        peak: list[float] = []
        watcher = threading.Thread(target=self._watch_peak, args=(process, peak), name=f"rss-{self.name}", daemon=True)
        watcher.start()
        try:
            steady_from = steady_cpu = steady_bytes = None
            audio_seconds = self.audio_bytes / BYTES_PER_SECOND
            deadline = started + audio_seconds * 1.5 + 60
            while time.monotonic() < deadline and process.poll() is None:
                received = self._received()
                if steady_from is None and received > 0:
                    steady_from = time.monotonic() + WARM_UP_S
                if steady_from is not None and steady_cpu is None and time.monotonic() >= steady_from:
                    steady_cpu, steady_bytes = cpu_seconds(process.pid), self._received()
                if received >= self.audio_bytes - BYTES_PER_SECOND // 10:  # all of it, but for the SDK's last frame
                    break
                time.sleep(0.05)
            end_cpu, end_bytes = cpu_seconds(process.pid), self._received()
            if self.stop_when_done and process.poll() is None:
                process.send_signal(signal.SIGTERM)  # the daemon runs until told to stop
            watcher.join()  # it returns once the process has exited (a zombie has no /proc status lines)
            _, status, usage = os.wait4(process.pid, 0)
            process.returncode = os.waitstatus_to_exitcode(status)  # reaped here; Popen must not wait again
        except BaseException:
            if process.poll() is None:
                process.kill()
                process.wait()
            raise
        if steady_cpu is None or end_cpu is None:
            raise RuntimeError(f"{self.name}: the audio did not stream (see {self.log_path})")
        return Footprint(
            name=self.name,
            cpu_s=usage.ru_utime + usage.ru_stime,
            user_s=usage.ru_utime,
            system_s=usage.ru_stime,
            peak_rss_mb=max(peak) if peak else float("nan"),
            steady_cpu_s=end_cpu - steady_cpu,
            steady_audio_s=(end_bytes - steady_bytes) / BYTES_PER_SECOND,
            audio_s=audio_seconds,
            phrases=len(self.emu.record.phrases()),
            exit_status=process.returncode,
            wall_s=time.monotonic() - started,
        )


def daemon_config(path: Path, *, broker_port: int, emulator_url: str, wav: Path, workdir: Path,
                  vad: bool = False, page: bool = True) -> Path:
    """The daemon on a WAV file at real time. The voice stage is off unless asked for: tone speech is no
    speech to a voice activity detector (bench_vad_daemon.py measures the stage on voiced audio)."""
    path.write_text(
        "room: footprint\n"
        f"mqtt:\n  host: 127.0.0.1\n  port: {broker_port}\n"
        f"journal:\n  path: {workdir / 'journal.sqlite3'}\n"
        f"speech:\n  host: {emulator_url}\n  key: bench\n"
        f"audio:\n  source: file\n  file: {wav}\n  speed: 1.0\n  vad:\n    enabled: {'true' if vad else 'false'}\n"
        "log:\n  level: warning\n"
        # The live page is on by default (on a free port here, nobody opens it): --no-page switches it off.
        + (f"web:\n  port: {free_port()}\n" if page else "web:\n  enabled: false\n")
    )
    return path


def print_results(results: list[Footprint]) -> None:
    """One column per process; the ratios are roomscribe's figure over each baseline's."""
    baselines = results[1:]
    print(f"\n{'':24s}" + "".join(f"{r.name:>16s}" for r in results) + "".join(f"{'ratio':>8s}" for _ in baselines))

    def row(label: str, values: list[float], fmt: str) -> None:
        ratios = "".join(f"{values[0] / v:8.2f}" for v in values[1:])
        print(f"{label:24s}" + "".join(f"{format(v, fmt):>16s}" for v in values) + ratios)

    row("CPU s, whole run", [r.cpu_s for r in results], ".2f")
    row("  user", [r.user_s for r in results], ".2f")
    row("  system", [r.system_s for r in results], ".2f")
    row("CPU s / audio minute", [r.cpu_s / r.audio_s * 60 for r in results], ".3f")
    row("  streaming only", [r.steady_cpu_s / r.steady_audio_s * 60 for r in results], ".3f")
    row("peak RSS, MB", [r.peak_rss_mb for r in results], ".1f")
    print(f"{'phrases transcribed':24s}" + "".join(f"{r.phrases:16d}" for r in results))
    print(f"{'exit status':24s}" + "".join(f"{r.exit_status:16d}" for r in results))
    print(f"{'wall s':24s}" + "".join(f"{r.wall_s:16.1f}" for r in results))
    steady = ", ".join(f"{r.steady_audio_s:.0f} s" for r in results)
    print(f"(streaming only: {steady} of audio, from {WARM_UP_S:g} s after the first audio frame to the last)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=2.0, help="length of the meeting, played at real time")
    parser.add_argument("--sequential", action="store_true", help="run the two processes one after the other")
    parser.add_argument("--no-page", action="store_true", help="the daemon with web.enabled: false (the live page off)")
    args = parser.parse_args()

    from roomscribe.emulator import EmulatorThread

    print(f"bench_footprint: {args.minutes:g} min of audio at real time, "
          f"{'one after the other' if args.sequential else 'both at once'}; machine: {MACHINE}")
    with tempfile.TemporaryDirectory(prefix="bench-footprint-") as tmp, Broker() as broker, \
            EmulatorThread() as daemon_emu, EmulatorThread() as bare_emu, EmulatorThread() as partials_emu:
        workdir = Path(tmp)
        pcm, planned = traceable_meeting(meeting_script(args.minutes))
        wav = write_pcm_wav(workdir / "meeting.wav", pcm)
        print(f"meeting: {len(pcm) / BYTES_PER_SECOND:.1f} s of audio, {len(planned)} utterances", flush=True)
        config = daemon_config(workdir / "roomscribe.yaml", broker_port=broker.port,
                               emulator_url=daemon_emu.host_url, wav=wav, workdir=workdir, page=not args.no_page)
        daemon = Child("roomscribe", [sys.executable, "-m", "roomscribe", "run", "-c", str(config)],
                       daemon_emu, len(pcm), workdir / "roomscribe.log", stop_when_done=True)
        bare_argv = [sys.executable, str(BENCH_DIR / "bare_push.py"), "--wav", str(wav), "--chunk-ms", str(CHUNK_MS)]
        children = [
            daemon,
            Child("bare", bare_argv + ["--host", bare_emu.host_url], bare_emu, len(pcm), workdir / "bare.log",
                  stop_when_done=False),
            Child("bare+partials", bare_argv + ["--host", partials_emu.host_url, "--partials"], partials_emu,
                  len(pcm), workdir / "bare-partials.log", stop_when_done=False),
        ]
        if args.sequential:
            results = [child.start().join() for child in children]
        else:
            results = [child.start() for child in children]
            results = [child.join() for child in children]
        for child in children:
            tail = child.log_path.read_text(errors="replace").strip().splitlines()[-3:]
            print(f"{child.name} output (last lines): {' | '.join(tail) if tail else '(none)'}")
    print_results(results)
    print(f"planned utterances: {len(planned)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
