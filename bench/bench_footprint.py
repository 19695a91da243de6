"""Footprint: the daemon's CPU time per audio minute and peak RSS against a bare SDK script, same audio.

    python bench/bench_footprint.py [--minutes 2] [--sequential] [--runs N] [--before TREE] [--threads]

Separate processes play the same meeting at real time, each against its own emulator in this process:
`python -m roomscribe run -c CONFIG` (the whole daemon: file source, gate, state machine, MQTT to a real
Mosquitto, SQLite journal, the live page bound but not opened) and `python bench/bare_push.py`
(PushAudioInputStream + ConversationTranscriber and nothing else) in the daemon's chunk size, twice: taking the
final results only, and taking the partial results too, as the daemon does to publish them. With --before,
the daemon of another checkout (`git archive COMMIT | tar -x -C TREE`) runs too, in the same run and under the
same conditions, so a change is shown side by side with what it changes.

Each child's CPU time comes from os.wait4 (the kernel's rusage of that child), its peak RSS from /proc.
CPU is also read from /proc/PID/stat while the audio streams, which leaves out start-up (imports) and
shutdown. All run at once by default (the machine's two cores are shared anyway); --sequential runs them one
after the other, in a rotated order each run. With --runs N every figure is given per run and as the
median with its range.

The daemon's package is loaded from bytecode, as `pip install` leaves it (each tree is copied and compiled
first); --source loads it from source, as an editable install with PYTHONDONTWRITEBYTECODE does (this
machine's venv): every start then compiles it again.

--threads runs every child under footprint_child.py, which notes which thread is which, and prints each
thread's CPU and wake-ups (voluntary context switches) while the audio streams, from /proc/PID/task.

--anatomy runs every child under tracemalloc from its first import and prints what each holds on the Python
heap --anatomy seconds after it started (mid-stream), grouped by the package that allocated it: the
measured reasons behind the peak RSS. tracemalloc slows the children and doubles their memory, so the
CPU and RSS figures of such a run are not the footprint.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
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
class ThreadUse:
    cpu_s: float  # user + system while the audio streamed
    wakeups: int  # voluntary context switches over the same window
    count: int  # threads of that name


@dataclass(frozen=True)
class Footprint:
    name: str
    cpu_s: float  # user + system, whole life of the process (os.wait4)
    user_s: float
    system_s: float
    peak_rss_mb: float  # VmHWM, last read shortly before the process ended
    steady_cpu_s: float  # while the audio streamed, start-up and shutdown left out
    steady_audio_s: float
    startup_cpu_s: float  # from the start until the first audio reached the service: imports, set-up, connect
    audio_s: float
    phrases: int  # final phrases the emulator sent: both did the same work
    exit_status: int
    wall_s: float
    threads: dict[str, ThreadUse] = field(default_factory=dict)  # with --threads: by thread name


def task_times(pid: int) -> dict[int, tuple[float, int]]:
    """CPU seconds and voluntary context switches of each thread of a live process."""
    tasks: dict[int, tuple[float, int]] = {}
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
            switches = next(int(line.split()[1]) for line in (task / "status").read_text().splitlines()
                            if line.startswith("voluntary_ctxt_switches"))
        except (FileNotFoundError, ProcessLookupError, StopIteration):
            continue  # the thread ended meanwhile
        tasks[int(task.name)] = ((int(fields[11]) + int(fields[12])) / CLOCK_TICKS, switches)
    return tasks


def thread_group(name: str | None) -> str:
    """Threads that do one job under numbered names are counted together."""
    if name is None:
        return "(native: Speech SDK)"
    for prefix, group in (("asyncio_", "asyncio_N (to_thread)"), ("ThreadPoolExecutor-", "ThreadPoolExecutor")):
        if name.startswith(prefix):
            return group
    return name


def threads_used(before: dict[int, tuple[float, int]], after: dict[int, tuple[float, int]],
                 names: dict[int, str]) -> dict[str, ThreadUse]:
    """Per-thread use over a window, by thread name; a thread born inside the window counts from zero."""
    groups: dict[str, ThreadUse] = {}
    for tid, (cpu, switches) in after.items():
        cpu0, switches0 = before.get(tid, (0.0, 0))
        group = thread_group(names.get(tid))
        old = groups.get(group, ThreadUse(0.0, 0, 0))
        groups[group] = ThreadUse(old.cpu_s + cpu - cpu0, old.wakeups + switches - switches0, old.count + 1)
    return groups


def read_thread_names(path: Path) -> dict[int, str]:
    names: dict[int, str] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            tid, _, name = line.partition("\t")
            names[int(tid)] = name
    return names


class Child:
    """A measured child process: started, watched for steady-state CPU, reaped with os.wait4."""

    def __init__(self, name: str, argv: list[str], emu, audio_bytes: int, log_path: Path, stop_when_done: bool,
                 env: dict[str, str] | None = None, threads_file: Path | None = None):
        self.name, self.argv, self.emu = name, argv, emu
        self.audio_bytes = audio_bytes
        self.log_path = log_path
        self.stop_when_done = stop_when_done
        self.env = env
        self.threads_file = threads_file  # the child notes its threads there (footprint_child.py)
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
            process = subprocess.Popen(self.argv, stdout=log, stderr=subprocess.STDOUT, cwd=BENCH_DIR.parent,
                                       env={**os.environ, **self.env} if self.env else None)
        started = time.monotonic()
        peak: list[float] = []
        watcher = threading.Thread(target=self._watch_peak, args=(process, peak), name=f"rss-{self.name}", daemon=True)
        watcher.start()
        tasks_from = tasks_to = None
        try:
            steady_from = steady_cpu = steady_bytes = startup_cpu = None
            audio_seconds = self.audio_bytes / BYTES_PER_SECOND
            deadline = started + audio_seconds * 1.5 + 60
            while time.monotonic() < deadline and process.poll() is None:
                received = self._received()
                if steady_from is None and received > 0:
                    steady_from, startup_cpu = time.monotonic() + WARM_UP_S, cpu_seconds(process.pid)
                if steady_from is not None and steady_cpu is None and time.monotonic() >= steady_from:
                    steady_cpu, steady_bytes = cpu_seconds(process.pid), self._received()
                    if self.threads_file is not None:
                        tasks_from = task_times(process.pid)
                if received >= self.audio_bytes - BYTES_PER_SECOND // 10:  # all of it, but for the SDK's last frame
                    break
                time.sleep(0.05)
            end_cpu, end_bytes = cpu_seconds(process.pid), self._received()
            if tasks_from is not None:
                tasks_to = task_times(process.pid)
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
        threads = (threads_used(tasks_from, tasks_to, read_thread_names(self.threads_file))
                   if tasks_from is not None and tasks_to is not None else {})
        return Footprint(
            name=self.name,
            cpu_s=usage.ru_utime + usage.ru_stime,
            user_s=usage.ru_utime,
            system_s=usage.ru_stime,
            peak_rss_mb=max(peak) if peak else float("nan"),
            steady_cpu_s=end_cpu - steady_cpu,
            steady_audio_s=(end_bytes - steady_bytes) / BYTES_PER_SECOND,
            startup_cpu_s=startup_cpu,
            audio_s=audio_seconds,
            phrases=len(self.emu.record.phrases()),
            exit_status=process.returncode,
            wall_s=time.monotonic() - started,
            threads=threads,
        )


def daemon_config(path: Path, *, broker_port: int, emulator_url: str, wav: Path, workdir: Path,
                  vad: bool = False, page: bool = True,
                  web_port: int | None = None, room: str = "footprint") -> Path:
    """The daemon on a WAV file at real time. The voice stage is off unless asked for: tone speech is no
    speech to a voice activity detector (bench_vad_daemon.py measures the stage on voiced audio). Daemons
    that run at once on one broker need rooms of their own (else one client id: they throw each other off)."""
    path.write_text(
        f"room: {room}\n"
        f"mqtt:\n  host: 127.0.0.1\n  port: {broker_port}\n"
        f"journal:\n  path: {workdir / 'journal.sqlite3'}\n"
        f"speech:\n  host: {emulator_url}\n  key: bench\n"
        f"audio:\n  source: file\n  file: {wav}\n  speed: 1.0\n  vad:\n    enabled: {'true' if vad else 'false'}\n"
        "log:\n  level: warning\n"
        # The live page is on by default (on a free port here, nobody opens it): --no-page switches it off.
        + (f"web:\n  port: {web_port or free_port()}\n" if page else "web:\n  enabled: false\n")
    )
    return path


DAEMON, BEFORE, BARE, PARTIALS = "roomscribe", "before", "bare", "bare+partials"
# The ratios printed: each daemon against the bare script taking the same results (the like-for-like
# baseline), against the script taking finals only, and this tree's daemon against the --before one.
RATIOS = ((DAEMON, PARTIALS), (BEFORE, PARTIALS), (DAEMON, BARE), (DAEMON, BEFORE))
METRICS = (  # label, figure of a Footprint, format
    ("CPU s, whole run", lambda r: r.cpu_s, ".2f"),
    ("  user", lambda r: r.user_s, ".2f"),
    ("  system", lambda r: r.system_s, ".2f"),
    ("CPU s / audio minute", lambda r: r.cpu_s / r.audio_s * 60, ".3f"),
    ("  streaming only", lambda r: r.steady_cpu_s / r.steady_audio_s * 60, ".3f"),
    ("CPU s to the first audio", lambda r: r.startup_cpu_s, ".3f"),
    ("peak RSS, MB", lambda r: r.peak_rss_mb, ".1f"),
)
RATIO_METRICS = ("CPU s, whole run", "  streaming only", "peak RSS, MB")


def ratio_pairs(names: list[str]) -> list[tuple[str, str]]:
    return [(a, b) for a, b in RATIOS if a in names and b in names]


def print_results(results: list[Footprint]) -> None:
    """One column per process, then the ratios of RATIOS that this run has."""
    by_name = {r.name: r for r in results}
    pairs = ratio_pairs(list(by_name))
    print(f"\n{'':24s}" + "".join(f"{r.name:>15s}" for r in results) + "".join(f"{f'{a}/{b}':>27s}" for a, b in pairs))
    for label, figure, fmt in METRICS:
        values = {r.name: figure(r) for r in results}
        ratios = "".join(f"{values[a] / values[b]:27.3f}" for a, b in pairs)
        print(f"{label:24s}" + "".join(f"{format(values[r.name], fmt):>15s}" for r in results) + ratios)
    print(f"{'phrases transcribed':24s}" + "".join(f"{r.phrases:15d}" for r in results))
    print(f"{'exit status':24s}" + "".join(f"{r.exit_status:15d}" for r in results))
    print(f"{'wall s':24s}" + "".join(f"{r.wall_s:15.1f}" for r in results))
    steady = ", ".join(f"{r.steady_audio_s:.0f} s" for r in results)
    print(f"(streaming only: {steady} of audio, from {WARM_UP_S:g} s after the first audio frame to the last)")


def spread(values: list[float], fmt: str) -> str:
    """The median and, over several runs, the range: `1.23 [1.20-1.31]`."""
    median = format(statistics.median(values), fmt)
    return median if len(values) == 1 else f"{median} [{format(min(values), fmt)}-{format(max(values), fmt)}]"


def print_summary(runs: list[list[Footprint]]) -> None:
    """Over all runs: each figure's median and range, and each ratio's (ratios are taken within a run)."""
    names = [r.name for r in runs[0]]
    print(f"\n=== {len(runs)} run(s): median [min-max] ===")
    print(f"{'':24s}" + "".join(f"{name:>22s}" for name in names))
    for label, figure, fmt in METRICS:
        cells = [spread([figure(next(r for r in run if r.name == name)) for run in runs], fmt) for name in names]
        print(f"{label:24s}" + "".join(f"{cell:>22s}" for cell in cells))
    for a, b in ratio_pairs(names):
        for label, figure, _ in METRICS:
            if label not in RATIO_METRICS:
                continue
            ratios = []
            for run in runs:
                by_name = {r.name: r for r in run}
                ratios.append(figure(by_name[a]) / figure(by_name[b]))
            print(f"ratio {a}/{b}, {label.strip()}: {spread(ratios, '.3f')}   per run: "
                  + " ".join(f"{x:.3f}" for x in ratios))


def print_threads(runs: list[list[Footprint]]) -> None:
    """Each process's threads while the audio streamed: CPU s per audio minute and wake-ups per second,
    the median over the runs (a thread name missing from a run counts as zero there)."""
    for name in [r.name for r in runs[0]]:
        per_run = [next(r for r in run if r.name == name) for run in runs]
        if not any(r.threads for r in per_run):
            continue
        groups = sorted({g for r in per_run for g in r.threads},
                        key=lambda g: -statistics.median(r.threads.get(g, ThreadUse(0, 0, 0)).cpu_s for r in per_run))
        print(f"\nthreads of {name} while streaming (median of {len(per_run)}):"
              f" CPU s per audio minute, wake-ups per second, threads")
        for group in groups:
            uses = [r.threads.get(group, ThreadUse(0.0, 0, 0)) for r in per_run]
            cpu = statistics.median(u.cpu_s / r.steady_audio_s * 60 for u, r in zip(uses, per_run))
            wakeups = statistics.median(u.wakeups / r.steady_audio_s for u, r in zip(uses, per_run))
            print(f"  {group:28s} {cpu:8.3f} {wakeups:9.1f} {max(u.count for u in uses):4d}")
        total = statistics.median(sum(u.cpu_s for u in r.threads.values()) / r.steady_audio_s * 60 for r in per_run)
        print(f"  {'all':28s} {total:8.3f}")


def allocation_group(filename: str) -> str:
    """Who allocated: a module of roomscribe, a package of site-packages, the standard library, or the
    import system itself (the code objects of every module imported)."""
    if "/roomscribe/" in filename:
        return "roomscribe/" + filename.rsplit("/roomscribe/", 1)[1]
    if "site-packages/" in filename:
        return filename.split("site-packages/", 1)[1].split("/", 1)[0]
    if filename.startswith("<frozen importlib"):
        return "(code of imported modules)"
    return "stdlib " + filename.rsplit("/", 1)[-1]


def print_anatomy(workdir: Path, names: list[str]) -> None:
    """The Python heap of each child at the snapshot, by group, largest first (snapshot.tsv of each)."""
    tables: dict[str, dict[str, int]] = {}
    for name in names:
        path = workdir / f"run0-{name}" / "snapshot.tsv"
        table: dict[str, int] = {}
        if path.exists():
            for line in path.read_text().splitlines():
                size, _, filename = line.split("\t", 2)
                group = allocation_group(filename)
                table[group] = table.get(group, 0) + int(size)
        tables[name] = table
    groups = sorted({g for t in tables.values() for g in t}, key=lambda g: -max(t.get(g, 0) for t in tables.values()))
    print("\nPython heap at the snapshot (tracemalloc), KB:")
    print(f"{'':44s}" + "".join(f"{name:>15s}" for name in names))
    print(f"{'all':44s}" + "".join(f"{sum(tables[n].values()) / 1024:15.0f}" for n in names))
    for group in groups[:30]:
        print(f"{group[:44]:44s}" + "".join(f"{tables[n].get(group, 0) / 1024:15.0f}" for n in names))


def compiled_tree(package: Path, dest: Path) -> Path:
    """A copy of a `roomscribe` package with its bytecode, as `pip install` leaves it; the folder for PYTHONPATH."""
    shutil.copytree(package, dest / "roomscribe", ignore=shutil.ignore_patterns("__pycache__"))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(dest / "roomscribe")], check=True, env=env,
                   stdout=subprocess.DEVNULL)
    return dest


def open_page(url: str, stop: threading.Event) -> None:
    """A viewer of the live page: the page itself, then its feed, read until the run ends."""
    import urllib.request

    while not stop.is_set():
        try:
            urllib.request.urlopen(url, timeout=5).read()
            with urllib.request.urlopen(url + "api/feed", timeout=5) as feed:
                while not stop.is_set() and feed.read1(65536):
                    pass
        except OSError:
            stop.wait(0.2)  # not listening yet, or the daemon stopped


def one_run(args, workdir: Path, pcm: bytes, wav: Path, broker, trees: dict[str, Path | None], run: int) -> list[Footprint]:
    from roomscribe.emulator import EmulatorThread

    emulators = {name: EmulatorThread().__enter__() for name in (*trees, BARE, PARTIALS)}
    pages: list[tuple[threading.Event, threading.Thread]] = []
    try:
        children: list[Child] = []
        for name, tree in trees.items():  # the daemons, this tree's and the --before one's
            port = free_port()
            folder = workdir / f"run{run}-{name}"
            folder.mkdir()
            config = daemon_config(folder / "roomscribe.yaml", broker_port=broker.port,
                                   emulator_url=emulators[name].host_url, wav=wav, workdir=folder,
                                   page=not args.no_page, web_port=port, room=f"footprint-{name}")
            argv = ["roomscribe", "run", "-c", str(config)]
            children.append(make_child(args, name, argv, emulators[name], len(pcm), folder, stop_when_done=True,
                                       env={"PYTHONPATH": str(tree)} if tree is not None else None))
            if args.open_page and not args.no_page:
                stop = threading.Event()
                viewer = threading.Thread(target=open_page, args=(f"http://127.0.0.1:{port}/", stop), daemon=True)
                pages.append((stop, viewer))
                viewer.start()
        bare_argv = [str(BENCH_DIR / "bare_push.py"), "--wav", str(wav), "--chunk-ms", str(CHUNK_MS)]
        for name, extra in ((BARE, []), (PARTIALS, ["--partials"])):
            folder = workdir / f"run{run}-{name}"
            folder.mkdir()
            children.append(make_child(args, name, bare_argv + ["--host", emulators[name].host_url] + extra,
                                       emulators[name], len(pcm), folder, stop_when_done=False))
        if args.sequential:
            shift = run % len(children)  # a rotated order: no process always runs first, or after another
            order = children[shift:] + children[:shift]
            by_name = {child.name: child.start().join() for child in order}
            results = [by_name[child.name] for child in children]
        else:
            results = [child.start() for child in children]
            results = [child.join() for child in children]
        for child in children:
            tail = child.log_path.read_text(errors="replace").strip().splitlines()[-3:]
            print(f"{child.name} output (last lines): {' | '.join(tail) if tail else '(none)'}")
        return results
    finally:
        for stop, viewer in pages:
            stop.set()
            viewer.join(10)
        for emulator in emulators.values():
            emulator.__exit__(None, None, None)


def make_child(args, name: str, argv: list[str], emu, audio_bytes: int, folder: Path, *, stop_when_done: bool,
               env: dict[str, str] | None = None) -> Child:
    """argv is `roomscribe …` or `SCRIPT.py …`; with --threads or --anatomy the child runs under
    footprint_child.py."""
    threads_file = folder / "threads.tsv" if args.threads or args.anatomy else None
    if threads_file is not None:
        anatomy = (["--snapshot-after", str(args.anatomy), "--snapshot-file", str(folder / "snapshot.tsv")]
                   if args.anatomy else [])
        command = [sys.executable, str(BENCH_DIR / "footprint_child.py"), "--threads-file", str(threads_file),
                   *anatomy, "--", *argv]
    elif argv[0] == "roomscribe":
        command = [sys.executable, "-m", "roomscribe", *argv[1:]]
    else:
        command = [sys.executable, *argv]
    return Child(name, command, emu, audio_bytes, folder / "output.log", stop_when_done, env=env,
                 threads_file=threads_file)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=2.0, help="length of the meeting, played at real time")
    parser.add_argument("--sequential", action="store_true", help="run the processes one after the other")
    parser.add_argument("--runs", type=int, default=1, help="repeat, and give the median and range of each figure")
    parser.add_argument("--before", type=Path, help="a checkout of roomscribe whose daemon runs alongside, as 'before'")
    parser.add_argument("--source", action="store_true",
                        help="load the daemons from source (no bytecode), as an editable install does")
    parser.add_argument("--threads", action="store_true", help="CPU and wake-ups of each thread while streaming")
    parser.add_argument("--no-page", action="store_true", help="the daemon with web.enabled: false (the live page off)")
    parser.add_argument("--open-page", action="store_true", help="a viewer holds each daemon's live page open")
    parser.add_argument("--anatomy", type=float, metavar="SECONDS",
                        help="one run under tracemalloc: each child's Python heap by package SECONDS after its start")
    args = parser.parse_args()
    if args.anatomy:
        args.runs = 1

    print(f"bench_footprint: {args.minutes:g} min of audio at real time, "
          f"{'one after the other' if args.sequential else 'all at once'}, {args.runs} run(s), daemons from "
          f"{'source' if args.source else 'bytecode'}, page {'off' if args.no_page else 'opened' if args.open_page else 'not opened'}; "
          f"machine: {MACHINE}")
    with tempfile.TemporaryDirectory(prefix="bench-footprint-") as tmp, Broker() as broker:
        workdir = Path(tmp)
        packages = {DAEMON: BENCH_DIR.parent / "daemon" / "roomscribe"}
        if args.before is not None:
            packages[BEFORE] = args.before.resolve() / "daemon" / "roomscribe"
            if not packages[BEFORE].is_dir():
                parser.error(f"--before: no daemon/roomscribe in {args.before}")
        if args.source:  # this tree through the venv's editable install, the other through PYTHONPATH
            trees = {name: (None if name == DAEMON else package.parent) for name, package in packages.items()}
        else:
            trees = {name: compiled_tree(package, workdir / f"tree-{name}") for name, package in packages.items()}
        for name, package in packages.items():
            print(f"{name}: {package.parent.parent}")
        pcm, planned = traceable_meeting(meeting_script(args.minutes))
        wav = write_pcm_wav(workdir / "meeting.wav", pcm)
        print(f"meeting: {len(pcm) / BYTES_PER_SECOND:.1f} s of audio, {len(planned)} utterances", flush=True)
        runs = []
        for run in range(args.runs):
            print(f"\n--- run {run + 1} of {args.runs} ---", flush=True)
            runs.append(one_run(args, workdir, pcm, wav, broker, trees, run))
            print_results(runs[-1])
            sys.stdout.flush()
        if args.anatomy:
            print_anatomy(workdir, [r.name for r in runs[0]])
    print_summary(runs)
    print_threads(runs)
    print(f"planned utterances: {len(planned)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
