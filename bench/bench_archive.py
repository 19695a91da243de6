"""Archive benchmarks: the ordered writer, the asyncio loop beside it, exports and catch-up.

    python bench/bench_archive.py [--utterances 20000] [--meeting-utterances 2000] [--repeat 5]

1. Writer throughput: N utterances submitted as fast as the caller can, until the last one is
   durable (committed, synchronous=FULL). Printed: utterances per second, commits (group commit),
   and the time one submit call takes (what the asyncio loop pays).
2. Durability latency at a meeting's pace (and 20× it): submit → future done, p50/p99. This is what
   "stored before published" adds to a transcript's way out.
3. The loop beside the disk: lag of a 10 ms timer on an asyncio loop while utterances are stored
   at 200/s, through the writer (new) and with `Outbox.put` on the loop (how the daemon stores
   today), next to an idle loop. A proxy for the command latency of the daemon, which is not wired
   to the archive yet.
4. Export of a 3-hour meeting (~2,000 utterances): reading it from the archive, then each format;
   and answering a catch-up request for it from seq 0.
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

from bench.common import MACHINE  # noqa: E402
from roomscribe.core.records import Utterance  # noqa: E402
from roomscribe.outputs.mqtt.outbox import Outbox  # noqa: E402
from roomscribe.outputs.archive.catchup import handle_request  # noqa: E402
from roomscribe.outputs.archive.export import FORMATS, export  # noqa: E402
from roomscribe.outputs.archive.store import ArchiveStore  # noqa: E402
from roomscribe.outputs.archive.writer import ArchiveWriter  # noqa: E402

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
    with ArchiveWriter(directory / "throughput.sqlite3") as writer:
        writer.meeting_started("m-bench", ROOM, time.time()).result(30)
        commits_before = writer.commits
        submit_times = []
        t0 = time.perf_counter()
        for seq in range(1, n + 1):
            s0 = time.perf_counter()
            future = writer.utterance(utterance("m-bench", seq, time.time()))
            submit_times.append(time.perf_counter() - s0)
        future.result(300)
        elapsed = time.perf_counter() - t0
        commits = writer.commits - commits_before
    print(f"writer: {n} utterances durable in {elapsed:.2f} s = {n / elapsed:,.0f}/s "
          f"in {commits} commits ({n / commits:.0f} per fsync); one submit call: "
          f"p50 {percentile(submit_times, 50) * 1e6:.1f} µs, p99 {percentile(submit_times, 99) * 1e6:.1f} µs")


def bench_durability_latency(directory: Path, rate: float, count: int) -> None:
    with ArchiveWriter(directory / f"latency-{rate:g}.sqlite3") as writer:
        writer.meeting_started("m-bench", ROOM, time.time()).result(30)
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
    with ArchiveWriter(directory / "loop.sqlite3") as writer:
        writer.meeting_started("m-loop", ROOM, time.time())
        describe(f"archive writer, {rate:g}/s",
                 loop_lag(lambda seq: writer.utterance(utterance("m-loop", seq, time.time())), seconds, rate))
    outbox = Outbox(directory / "outbox.sqlite3")
    describe(f"Outbox.put on the loop (today), {rate:g}/s",
             loop_lag(lambda seq: outbox.put(utterance("m-loop", seq, time.time())), seconds, rate))
    outbox.close()


def bench_export(directory: Path, n: int, repeat: int) -> None:
    path = directory / "export.sqlite3"
    store = ArchiveStore(path)
    start = time.time() - 3 * 3600
    spacing = 3 * 3600 / n
    with store.transaction():
        store.meeting_started("m-3h", ROOM, start, 1)
        for seq in range(1, n + 1):
            at = start + seq * spacing
            if seq == n // 2:
                store.pause_started("m-3h", at - 1)
                store.pause_ended("m-3h", at - 0.5)
            store.add_utterance(utterance("m-3h", seq, at, epoch=1 if seq < n * 3 // 4 else 2))
        store.meeting_ended("m-3h", start + 3 * 3600 + 5)
    store.close()
    reader = ArchiveStore(path, readonly=True)
    reads = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        record = reader.record("m-3h")
        reads.append(time.perf_counter() - t0)
    print(f"3-hour meeting, {len(record.utterances)} utterances: read from the archive "
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--utterances", type=int, default=20_000)
    parser.add_argument("--meeting-utterances", type=int, default=2_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--loop-seconds", type=float, default=5.0)
    args = parser.parse_args()
    print(f"machine: {MACHINE}")
    with tempfile.TemporaryDirectory(prefix="bench-archive-") as tmp:
        directory = Path(tmp)
        bench_throughput(directory, args.utterances)
        bench_durability_latency(directory, 1.0, 20)
        bench_durability_latency(directory, 20.0, 200)
        bench_loop(directory, args.loop_seconds, 200.0)
        bench_export(directory, args.meeting_utterances, args.repeat)


if __name__ == "__main__":
    main()
