"""Record benchmarks: the journal's writer, the asyncio loop beside it, exports and catch-up.

    python bench/bench_archive.py [--utterances 20000] [--meeting-utterances 2000] [--repeat 5]

1. Writer throughput: N utterances submitted as fast as the caller can, until the last one is
   durable (committed, synchronous=FULL). Printed: utterances per second, commits (group commit),
   and the time one submit call takes (what the asyncio loop pays).
2. Durability latency at a meeting's pace (and 20× it): submit → future done, p50/p99. This is what
   "stored before published" adds to a transcript's way out.
3. The loop beside the disk: lag of a 10 ms timer on an asyncio loop while utterances are stored
   at 200/s through the journal's writer, next to an idle loop.
4. Export of a 3-hour meeting (~2,000 utterances): reading it from the journal, then each format;
   and answering a catch-up request for it from seq 0.
5. The daemon's command latency: the real daemon (emulator, Mosquitto, a tone-speech meeting) takes
   pause commands the way paho hands them over (`Daemon.on_command` from another thread); measured
   in-process from that call to the gate closed on the owner's loop, while the loop also submits
   `--load` utterances per second on top of the meeting's own. With the record switched off
   (utterances kept only until delivered) and on, alternating runs, side by side: in neither does a
   commit run on the loop.
Figures, not assertions: the machines are shared, compare the ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import MACHINE, Broker  # noqa: E402
from roomscribe.core.records import Utterance  # noqa: E402
from roomscribe.outputs.archive.catchup import handle_request  # noqa: E402
from roomscribe.outputs.archive.export import FORMATS, export  # noqa: E402
from roomscribe.outputs.journal import writes  # noqa: E402
from roomscribe.outputs.journal.journal import Journal  # noqa: E402
from roomscribe.outputs.journal.reader import JournalReader  # noqa: E402

ROOM = "bench"
TEXT = "and that is why the numbers for the third quarter look better than we expected in March"


def utterance(meeting_id: str, seq: int, at: float, epoch: int = 1) -> Utterance:
    return Utterance(meeting_id=meeting_id, seq=seq, speaker=f"Guest-{seq % 4 + 1}", speaker_epoch=epoch,
                     text=f"{TEXT} ({seq})", start=at, end=at + 3.2, offset_ms=seq * 5400, duration_ms=3200,
                     language="en-US", room=ROOM)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def bench_throughput(directory: Path, n: int) -> None:
    with Journal(directory / "throughput.sqlite3") as journal:
        writer = journal.writer
        writer.submit(writes.meeting_started, "m-bench", ROOM, time.time(), 1).result(30)
        commits_before = journal.file.commits
        submit_times = []
        t0 = time.perf_counter()
        for seq in range(1, n + 1):
            s0 = time.perf_counter()
            future = writer.utterance(utterance("m-bench", seq, time.time()))
            submit_times.append(time.perf_counter() - s0)
        future.result(300)
        elapsed = time.perf_counter() - t0
        commits = journal.file.commits - commits_before
    print(f"writer: {n} utterances durable in {elapsed:.2f} s = {n / elapsed:,.0f}/s "
          f"in {commits} commits ({n / commits:.0f} per fsync); one submit call: "
          f"p50 {percentile(submit_times, 50) * 1e6:.1f} µs, p99 {percentile(submit_times, 99) * 1e6:.1f} µs")


def bench_durability_latency(directory: Path, rate: float, count: int) -> None:
    with Journal(directory / f"latency-{rate:g}.sqlite3") as journal:
        writer = journal.writer
        writer.submit(writes.meeting_started, "m-bench", ROOM, time.time(), 1).result(30)
        latencies = []
        done = threading.Event()

        def stamp(start: float, last: bool):
            def callback(future) -> None:
                latencies.append(time.perf_counter() - start)
                if last:
                    done.set()
            return callback

        for seq in range(1, count + 1):
            writer.utterance(utterance("m-bench", seq, time.time())).add_done_callback(
                stamp(time.perf_counter(), seq == count))
            time.sleep(1 / rate)
        done.wait(60)
    print(f"durable after submit at {rate:g}/s: p50 {percentile(latencies, 50) * 1000:.2f} ms, "
          f"p99 {percentile(latencies, 99) * 1000:.2f} ms, max {max(latencies) * 1000:.2f} ms ({count} samples)")


def loop_lag(store_one, seconds: float, rate: float) -> list[float]:
    """Lag of a 10 ms timer on an asyncio loop that also stores `rate` utterances per second."""
    async def main() -> list[float]:
        loop = asyncio.get_running_loop()
        lags: list[float] = []
        stop = loop.time() + seconds

        async def probe() -> None:
            while loop.time() < stop:
                planned = loop.time() + 0.010
                await asyncio.sleep(0.010)
                lags.append(loop.time() - planned)

        async def feed() -> None:
            seq = 0
            while store_one is not None and loop.time() < stop:
                seq += 1
                store_one(seq)
                await asyncio.sleep(1 / rate)

        await asyncio.gather(probe(), feed())
        return lags

    return asyncio.run(main())


def bench_loop(directory: Path, seconds: float, rate: float) -> None:
    def describe(name: str, lags: list[float]) -> None:
        print(f"loop lag, {name}: p50 {percentile(lags, 50) * 1000:.2f} ms, p99 {percentile(lags, 99) * 1000:.2f} ms, "
              f"max {max(lags) * 1000:.2f} ms")

    describe("idle loop", loop_lag(None, seconds, rate))
    with Journal(directory / "loop.sqlite3") as journal:
        journal.writer.submit(writes.meeting_started, "m-loop", ROOM, time.time(), 1)
        describe(f"journal writer, {rate:g}/s",
                 loop_lag(lambda seq: journal.writer.utterance(utterance("m-loop", seq, time.time())), seconds, rate))


def bench_export(directory: Path, n: int, repeat: int) -> None:
    path = directory / "export.sqlite3"
    start = time.time() - 3 * 3600
    spacing = 3 * 3600 / n
    with Journal(path) as journal:
        writer = journal.writer
        writer.submit(writes.meeting_started, "m-3h", ROOM, start, 1)
        for seq in range(1, n + 1):
            at = start + seq * spacing
            if seq == n // 2:
                writer.submit(writes.pause_started, "m-3h", at - 1)
                writer.submit(writes.pause_ended, "m-3h", at - 0.5)
            writer.utterance(utterance("m-3h", seq, at, epoch=1 if seq < n * 3 // 4 else 2))
        writer.submit(writes.meeting_ended, "m-3h", start + 3 * 3600 + 5).result(60)
    reader = JournalReader(path)
    reads = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        record = reader.record("m-3h")
        reads.append(time.perf_counter() - t0)
    print(f"3-hour meeting, {len(record.utterances)} utterances: read from the journal "
          f"{statistics.median(reads) * 1000:.1f} ms (median of {repeat})")
    for fmt in FORMATS:
        times = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            text = export(record, fmt)
            times.append(time.perf_counter() - t0)
        total = statistics.median(reads) + statistics.median(times)
        print(f"  export {fmt:5}: {statistics.median(times) * 1000:6.1f} ms, {len(text.encode()) / 1024:6.0f} KiB; "
              f"with the read {total * 1000:.1f} ms")
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        pages = handle_request(b'{"meeting_id": "m-3h", "since_seq": 0}', reader, room=ROOM)
        times.append(time.perf_counter() - t0)
    print(f"catch-up from seq 0 (first 500 utterances, 16 KiB pages): {len(pages)} pages in "
          f"{statistics.median(times) * 1000:.1f} ms")


def command_latency_run(directory: Path, record: bool, rounds: int, load: float, tag: str) -> tuple[list[float], int]:
    """(pause → gate closed latencies, utterances submitted) for one run of the real daemon."""
    from roomscribe.config import settings_from_data
    from tests.support.daemon_harness import DaemonThread
    from roomscribe.emulator.script import parse_script, synthesize, write_wav
    from roomscribe.emulator.thread import EmulatorThread
    from roomscribe.outputs.mqtt.commands import Command

    wav = directory / "command-meeting.wav"
    if not wav.exists():
        lines = "\n".join(f"Guest-{1 + i % 2}: Line {i} of a long and busy meeting." for i in range(200))
        pcm, _ = synthesize(parse_script(lines))
        write_wav(wav, pcm)
    work = directory / tag
    work.mkdir()
    with Broker() as broker, EmulatorThread(key="bench") as emu:
        settings = settings_from_data({
            "room": ROOM,
            "mqtt": {"host": "127.0.0.1", "port": broker.port, "discovery": False},
            "journal": {"path": str(work / "journal.sqlite3")},
            "archive": {"enabled": record},
            "speech": {"host": emu.host_url, "key": "bench"},
            "audio": {"source": "file", "file": str(wav), "speed": 2.0, "vad": {"enabled": False}},
        })
        runner = DaemonThread(settings).start()
        daemon = runner.daemon
        closed = threading.Event()
        close = daemon.audio_path.close

        def stamped_close(**kwargs) -> None:
            close(**kwargs)
            closed.set()

        daemon.audio_path.close = stamped_close
        fed = [0]

        async def feed() -> None:  # a very talkative meeting on top of the real one
            while True:
                fed[0] += 1
                daemon.output.submit_transcript(utterance("m-load", fed[0], time.time()))
                await asyncio.sleep(1 / load)

        feeder = None
        try:
            deadline = time.monotonic() + 20
            while daemon.diagnostics().state != "transcribing":
                assert time.monotonic() < deadline, "the daemon did not start transcribing"
                time.sleep(0.05)
            feeder = runner.call(lambda: asyncio.ensure_future(feed())) if load > 0 else None
            latencies = []
            for _ in range(rounds):
                closed.clear()
                t0 = time.perf_counter()
                daemon.on_command(Command("pause"))  # as paho's thread hands a command over
                assert closed.wait(5), "the gate did not close"
                latencies.append(time.perf_counter() - t0)
                time.sleep(0.08)
                daemon.on_command(Command("resume"))
                time.sleep(0.12)
        finally:
            if feeder is not None:
                runner.call(feeder.cancel)
            runner.stop()
    return latencies, fed[0] + daemon.diagnostics().utterances_published


def bench_command_latency(directory: Path, rounds: int, load: float, runs: int) -> None:
    results: dict[bool, list[float]] = {False: [], True: []}
    written: dict[bool, int] = {False: 0, True: 0}
    for run in range(runs):
        for record in (False, True):
            lat, n = command_latency_run(directory, record, rounds, load, f"run{run}-{'record' if record else 'none'}")
            results[record] += lat
            written[record] += n
    print(f"command latency, pause -> gate closed, the real daemon, {runs}×{rounds} pauses per setting, "
          f"{load:g} extra utterances/s on the loop:")
    for record, name in ((False, "record off (kept until delivered)"), (True, "record kept")):
        lat = results[record]
        print(f"  {name:44}: p50 {percentile(lat, 50) * 1000:.3f} ms, p99 {percentile(lat, 99) * 1000:.3f} ms, "
              f"max {max(lat) * 1000:.3f} ms; {written[record]} utterances stored")
    for p in (50, 99):
        print(f"  ratio p{p} kept/off: {percentile(results[True], p) / percentile(results[False], p):.2f}×")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--utterances", type=int, default=20_000)
    parser.add_argument("--meeting-utterances", type=int, default=2_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--loop-seconds", type=float, default=5.0)
    parser.add_argument("--command-rounds", type=int, default=40, help="pauses per run (section 5)")
    parser.add_argument("--command-runs", type=int, default=2, help="alternating runs per setting (section 5)")
    parser.add_argument("--load", type=float, default=50.0, help="extra utterances per second (section 5)")
    parser.add_argument("--only-commands", action="store_true", help="section 5 only")
    args = parser.parse_args()
    print(f"machine: {MACHINE}")
    with tempfile.TemporaryDirectory(prefix="bench-archive-") as tmp:
        directory = Path(tmp)
        if args.only_commands:
            return bench_command_latency(directory, args.command_rounds, args.load, args.command_runs)
        bench_throughput(directory, args.utterances)
        bench_durability_latency(directory, 1.0, 20)
        bench_durability_latency(directory, 20.0, 200)
        bench_loop(directory, args.loop_seconds, 200.0)
        bench_export(directory, args.meeting_utterances, args.repeat)
        bench_command_latency(directory, args.command_rounds, args.load, args.command_runs)


if __name__ == "__main__":
    main()
