"""Pause and resume against the Speech emulator: roomscribe's gate (session kept) against restart-per-resume.

    python bench/bench_pause.py [--rounds 5] [--rtt 0 50] [--long-pause 300] [--idle-timeout 120]

Both approaches play the same traceable meeting (bench/common.py) at real time through the real Speech SDK.
Each round: two people speak, a pause, one of them says something SECRET while paused, a resume, then the
person who spoke last before the pause speaks first after it. Printed per emulated round-trip time:

* resume latency: resume command -> the first audio frame that carries audio captured after the pause
  reaches the service (emulator arrival time plus the emulated one-way delay); every round, median, max;
* the speaker labels of that person before and after each resume, and how consistent labels stayed;
* privacy: bytes of audio captured while paused that reached the service (checked in every stream).

Alongside the rounds, one long pause (default 5 minutes, at real time) runs in a process of its own, with
its own daemon, emulator and broker, and gives the audio sent while paused as a fraction of the pause.

Commands go straight to the owner's loop (the path an MQTT command takes after parsing), so MQTT's own
latency is in none of the figures. docs/BENCHMARKS.md explains the choices and gives the figures.
"""

from __future__ import annotations

import argparse
import logging
import random
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.support: the daemon under test

from common import (  # noqa: E402
    MACHINE,
    Broker,
    Playback,
    TranscriptListener,
    first_live_frame,
    leaked_bytes,
    leaked_chunks,
    median_max,
    ms,
    traceable_meeting,
    write_pcm_wav,
)

from roomscribe.core.audio_format import BYTES_PER_SECOND, CHUNK_MS  # noqa: E402

CHUNK_S = CHUNK_MS / 1000
# A new connection over the Internet costs TCP (1 RTT) + TLS 1.3 (1 RTT) + the WebSocket upgrade (1 RTT)
# before the first audio frame can leave; DNS, TLS 1.2 and the service's authentication would add more.
HANDSHAKE_RTTS = 3
PAUSE_AFTER_SPEECH_S = 0.25  # the pause command comes just after the last words before it
RESUME_BEFORE_SPEECH_S = 0.5  # and the resume half a second before the next words
SETTLE_S = 1.5  # after the last words: time for their phrase to come back


# -- the meeting ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Round:
    speaker: str  # speaks last before the pause and first after it
    before: str  # their words before the pause
    after: str  # and after it
    pause_at: float  # seconds into the audio
    resume_at: float


def rounds_script(rounds: int) -> str:
    lines = []
    for k in range(1, rounds + 1):
        # Alternate who bridges the pause: with a new session per resume, the bridging speaker is always
        # the one who did not open the previous session, so restart-per-resume renames them every time.
        speaker, other = ("Bob", "Alice") if k % 2 else ("Alice", "Bob")
        lines += [
            f"{other}: {other} opens round {k}.",
            f"{speaker}: {speaker} speaks in round {k}.",
            "[silence 1.2]",
            f"{other}: SECRET {k}, keep it here.",
            "[silence 1.2]",
            f"{speaker}: {speaker} is back, round {k}.",
            f"{other}: {other} closes round {k}.",
        ]
    return "\n".join(lines) + "\n"


def plan_rounds(planned, seed: int = 3) -> list[Round]:
    """The pause and resume moments of each round, each moved by a random part of a chunk.

    Where a command falls inside a chunk decides how long it waits for the next one; the jitter
    samples that evenly instead of the fixed phase the script's timing would give.
    """
    rnd = random.Random(seed)
    out = []
    for i in range(0, len(planned), 5):
        before, after = planned[i + 1], planned[i + 3]
        out.append(Round(before.speaker, before.text, after.text,
                         before.end + PAUSE_AFTER_SPEECH_S + rnd.uniform(0, CHUNK_S),
                         after.start - RESUME_BEFORE_SPEECH_S + rnd.uniform(0, CHUNK_S)))
    return out


# -- the two approaches ---------------------------------------------------------------------------------


class Roomscribe:
    name = "roomscribe"

    def __init__(self, wav: Path, emu, broker: Broker, workdir: Path, room: str, **speech) -> None:
        from roomscribe.config import settings_from_data
        from tests.support.daemon_harness import DaemonThread

        settings = settings_from_data({
            "room": room,
            "mqtt": {"host": "127.0.0.1", "port": broker.port, "base_topic": room, "discovery": False},
            "journal": {"path": str(workdir / f"{room}-journal.sqlite3")},
            "speech": {"host": emu.host_url, "key": "bench", **speech},
            # Tone speech: no voice for the silence-suppressing stage to hear, so it is off here.
            "audio": {"source": "file", "file": str(wav), "speed": 1.0, "vad": {"enabled": False}},
        })
        self.runner = DaemonThread(settings)
        self.listener = TranscriptListener(broker.port, room)

    def start(self) -> None:
        self.runner.start()

    @property
    def source(self):
        return self.runner.daemon.source

    def command(self, name: str):
        """Hand the command to the owner as a command channel does; return the gate's counters just before it."""
        from roomscribe.outputs.mqtt.commands import Command

        daemon = self.runner.daemon

        def act():
            stats = daemon.diagnostics().gate.stats
            daemon.on_command(Command(name))  # handled on the loop right after this
            return stats

        return self.runner.call(act)

    def pause(self) -> None:
        self.command("pause")

    def resume(self) -> None:
        self.command("resume")

    def heard(self) -> list[tuple[str, str]]:
        return self.listener.heard()

    def stop(self) -> None:
        try:
            self.runner.stop()
        finally:
            self.listener.close()


class Restart:
    name = "restart"
    prime = False

    def __init__(self, wav: Path, emu, broker: Broker, workdir: Path, room: str) -> None:
        from restart_baseline import RestartPerResume

        self.impl = RestartPerResume(wav, host=emu.host_url, prime=self.prime)

    def start(self) -> None:
        self.impl.start()

    @property
    def source(self):
        return self.impl.source

    def pause(self) -> None:
        self.impl.pause()

    def resume(self) -> None:
        self.impl.resume()

    def heard(self) -> list[tuple[str, str]]:
        return [(h.speaker, h.text) for h in list(self.impl.heard)]

    def stop(self) -> None:
        self.impl.stop()


class RestartPrimed(Restart):
    """Restart-per-resume that also fills the new stream's first SDK frame with 80 ms of silence."""

    name = "restart+prime"
    prime = True


# -- one run: one approach at one round-trip time -------------------------------------------------------


@dataclass(frozen=True)
class RoundResult:
    latency: float | None  # seconds; None if no audio after the resume ever arrived
    leaked: int  # bytes captured while paused that reached the service
    checked: int  # bytes captured while paused that were looked for
    leak_ends: tuple[float, ...]  # per leaked chunk: the end of its capture, seconds before the resume command
    label_before: str | None
    label_after: str | None


@dataclass(frozen=True)
class RunResult:
    approach: str
    rtt_ms: float
    rounds: list[RoundResult]
    labels_per_person: dict[str, list[str]]  # person -> labels in order
    connections: int


def sleep_until(wall: float) -> None:
    time.sleep(max(0.0, wall - time.time()))


def wait_started(source, timeout: float = 20.0) -> float:
    deadline = time.monotonic() + timeout
    while source.started_at is None:
        if time.monotonic() > deadline:
            raise RuntimeError("the audio source did not start")
        time.sleep(0.005)
    return source.started_at


def run_rounds(kind, rtt_ms: float, wav: Path, pcm: bytes, planned, rounds: list[Round], broker: Broker,
               workdir: Path) -> RunResult:
    from roomscribe.emulator import EmulatorThread, FaultPlan

    one_way = rtt_ms / 2 / 1000
    plan = FaultPlan(one_way_delay_ms=rtt_ms / 2, handshake_delay_ms=HANDSHAKE_RTTS * rtt_ms)
    with EmulatorThread(plan) as emu:
        client = kind(wav, emu, broker, workdir, f"bench-{kind.name}-{int(rtt_ms)}")
        client.start()
        try:
            t0 = wait_started(client.source)
            marks = []
            for r in rounds:
                sleep_until(t0 + r.pause_at)
                paused_at = time.time()
                client.pause()
                sleep_until(t0 + r.resume_at)
                resumed_at = time.time()
                client.resume()
                marks.append((paused_at, resumed_at))
            sleep_until(t0 + planned[-1].end + SETTLE_S)
            deadline = time.monotonic() + 15
            while planned[-1].text not in [text for _, text in client.heard()] and time.monotonic() < deadline:
                time.sleep(0.1)
        finally:
            client.stop()
        record = emu.record
        frames = record.audio_frames()
        streams = [record.raw_audio_bytes()] + [record.audio_bytes(s) for s in record.audio_session_ids()]
        connections = len(record.accepted_connections())
    playback = Playback(pcm, t0)
    heard = client.heard()
    label_of = {text: label for label, text in heard}
    results = []
    for r, (paused_at, resumed_at) in zip(rounds, marks):
        frame = first_live_frame(frames, playback, after=resumed_at, live_since=paused_at)
        latency = None if frame is None else frame.arrived_at + one_way - resumed_at
        secret = playback.chunks_between(paused_at, resumed_at)
        leaks = leaked_chunks(secret, streams)
        leak_ends = tuple(resumed_at - (playback.captured_at(p) + CHUNK_S) for p, _ in leaks)
        results.append(RoundResult(latency, sum(size for _, size in leaks), sum(len(c) for _, c in secret),
                                   leak_ends, label_of.get(r.before), label_of.get(r.after)))
    person_of = {u.text: u.speaker for u in planned}
    per_person: dict[str, list[str]] = {}
    for label, text in heard:
        per_person.setdefault(person_of.get(text, f"? {text!r}"), []).append(label)
    return RunResult(kind.name, rtt_ms, results, per_person, connections)


# -- the long pause -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LongPauseResult:
    pause_s: float
    written_while_paused: int  # bytes the daemon wrote to the push stream while paused (the tail)
    sent_while_paused: int  # PCM bytes that reached the service while paused
    replayed: int  # PCM bytes the SDK sent twice (replays after reconnects)
    leaked: int
    checked: int
    connections: int
    closes: list[str]
    latency: float | None
    labels: list[tuple[str, str, str]]  # (person, label, text)


def long_pause_script(pause_s: float) -> str:
    from roomscribe.emulator.tonespeech import symbol_codes, symbol_samples

    secret = "Alice: SECRET said during the long pause."
    secret_s = symbol_samples(len(symbol_codes(secret.split(": ", 1)[1])), 16000) / 16000
    # Between Bob's two lines: the pause plus the margins before and after it.
    gap = pause_s + PAUSE_AFTER_SPEECH_S + RESUME_BEFORE_SPEECH_S
    first = gap / 2
    script = (
        "Alice: Alice before the long pause.\nBob: Bob before the long pause.\n"
        f"[silence {first:.3f}]\n{secret}\n[silence {gap - first - secret_s:.3f}]\n"
        "Bob: Bob after the long pause.\nAlice: Alice after the long pause.\n"
    )
    return script


def run_long_pause(pause_s: float, idle_timeout: float, broker: Broker, workdir: Path) -> LongPauseResult:
    from roomscribe.emulator import EmulatorThread, FaultPlan

    pcm, planned = traceable_meeting(long_pause_script(pause_s), seed=11)
    wav = write_pcm_wav(workdir / "long-pause.wav", pcm)
    bob_before, bob_after = planned[1], planned[3]
    with EmulatorThread(FaultPlan(idle_timeout_seconds=idle_timeout)) as emu:
        client = Roomscribe(wav, emu, broker, workdir, "bench-long-pause")
        client.start()
        try:
            t0 = wait_started(client.source)
            sleep_until(t0 + bob_before.end + PAUSE_AFTER_SPEECH_S)
            paused_at = time.time()
            before = client.command("pause")
            sleep_until(t0 + bob_after.start - RESUME_BEFORE_SPEECH_S)
            resumed_at = time.time()
            after = client.command("resume")
            sleep_until(t0 + planned[-1].end + SETTLE_S)
            deadline = time.monotonic() + 15
            while planned[-1].text not in [t for _, t in client.heard()] and time.monotonic() < deadline:
                time.sleep(0.1)
        finally:
            client.stop()
        record = emu.record
        frames = [f for f in record.audio_frames() if f.kind == "pcm"]
        streams = [record.raw_audio_bytes()] + [record.audio_bytes(s) for s in record.audio_session_ids()]
        unique = sum(len(record.audio_bytes(s)) for s in record.audio_session_ids())
        connections = record.accepted_connections()
    playback = Playback(pcm, t0)
    secret = playback.chunks_between(paused_at, resumed_at)
    written = (after.live_bytes_written + after.silence_bytes_written) - (
        before.live_bytes_written + before.silence_bytes_written)
    frame = first_live_frame(frames, playback, after=resumed_at, live_since=paused_at)
    person_of = {u.text: u.speaker for u in planned}
    return LongPauseResult(
        pause_s=resumed_at - paused_at,
        written_while_paused=written,
        sent_while_paused=sum(f.size for f in frames if paused_at <= f.arrived_at < resumed_at),
        replayed=sum(f.size for f in frames) - unique,
        leaked=leaked_bytes(secret, streams),
        checked=sum(len(c) for _, c in secret),
        connections=len(connections),
        closes=[f"{c.close_code} {c.close_reason!r} by the {c.closed_by}" for c in connections if c.closed_at],
        latency=None if frame is None else frame.arrived_at - resumed_at,
        labels=[(person_of.get(text, "?"), label, text) for label, text in client.heard()],
    )


# -- report ---------------------------------------------------------------------------------------------


def print_latency(results: list[RunResult]) -> None:
    print("\n== resume latency: resume command -> first audio captured after the pause at the service ==")
    for rtt in sorted({r.rtt_ms for r in results}):
        print(f"-- RTT {rtt:g} ms (one-way {rtt / 2:g} ms, handshake {HANDSHAKE_RTTS * rtt:g} ms)")
        medians = {}
        for run in (r for r in results if r.rtt_ms == rtt):
            values = [x.latency for x in run.rounds if x.latency is not None]
            shown = " ".join(f"{v * 1000:.1f}" for v in values)
            missing = len(run.rounds) - len(values)
            if values:
                median, worst = median_max(values)
                medians[run.approach] = (median, worst)
                print(f"   {run.approach:13s} median {ms(median)}  max {ms(worst)}   rounds (ms): {shown}"
                      + (f"   ({missing} rounds without audio after the resume)" if missing else ""))
            else:
                print(f"   {run.approach:13s} no audio after any resume")
        for other in ("restart", "restart+prime"):
            if "roomscribe" in medians and other in medians:
                (gm, gx), (rm, rx) = medians["roomscribe"], medians[other]
                print(f"   {other} / roomscribe: {rm / gm:.1f}x at the median, {rx / gx:.1f}x at the max")


def print_labels(results: list[RunResult]) -> None:
    print("\n== speaker labels of the person who spoke last before each pause and first after it ==")
    for run in results:
        pairs = "  ".join(f"{x.label_before}->{x.label_after}" for x in run.rounds)
        kept = sum(1 for x in run.rounds if x.label_before and x.label_before == x.label_after)
        print(f"   {run.approach:13s} RTT {run.rtt_ms:3g} ms: {pairs}   kept {kept}/{len(run.rounds)}")
        for person, labels in sorted(run.labels_per_person.items()):
            print(f"      {person:6s} labelled {' '.join(labels)}   ({len(set(labels))} distinct)")
        shared = {}
        for person, labels in run.labels_per_person.items():
            for label in set(labels):
                shared.setdefault(label, set()).add(person)
        clashes = sorted(label for label, people in shared.items() if len(people) > 1)
        print(f"      labels given to more than one person: {', '.join(clashes) if clashes else 'none'};"
              f" connections: {run.connections}")


def print_privacy(results: list[RunResult]) -> None:
    print("\n== privacy: audio captured while paused that reached the service ==")
    for run in results:
        leaked = sum(x.leaked for x in run.rounds)
        checked = sum(x.checked for x in run.rounds)
        ends = [end for x in run.rounds for end in x.leak_ends]
        where = ("; leaked chunks ended " + ", ".join(f"{end * 1000:.1f}" for end in ends)
                 + " ms before the resume command") if ends else ""
        print(f"   {run.approach:13s} RTT {run.rtt_ms:3g} ms: {leaked} bytes of {checked} captured while paused{where}")


def print_long_pause(result: LongPauseResult, idle_timeout: float) -> None:
    print(f"\n== cost of a pause: one pause of {result.pause_s:.1f} s (emulator idle close after {idle_timeout:g} s) ==")
    sent_s = result.sent_while_paused / BYTES_PER_SECOND
    total_s = (result.sent_while_paused + result.replayed) / BYTES_PER_SECOND
    print(f"   written to the push stream while paused: {result.written_while_paused} bytes"
          f" ({result.written_while_paused / BYTES_PER_SECOND:.3f} s: the tail that ends the phrase in flight)")
    print(f"   reached the service while paused: {result.sent_while_paused} bytes = {sent_s:.3f} s of audio"
          f" = {100 * sent_s / result.pause_s:.3f}% of the pause (streaming silence: 100%)")
    print(f"   re-sent by the SDK after its reconnects: {result.replayed} bytes;"
          f" with it: {100 * total_s / result.pause_s:.3f}% of the pause")
    print(f"   connections: {result.connections}; closed: {'; '.join(result.closes) or 'none'}")
    print(f"   captured while paused that reached the service: {result.leaked} bytes of {result.checked}")
    latency = "none" if result.latency is None else ms(result.latency)
    print(f"   resume latency after the long pause: {latency}")
    for person, label, text in result.labels:
        print(f"      {person:6s} {label:8s} {text}")


def long_pause_main(args) -> int:
    """The long pause alone (in its own process, so it never competes with the rounds for the GIL)."""
    with tempfile.TemporaryDirectory(prefix="bench-long-pause-") as tmp, Broker() as broker:
        result = run_long_pause(args.long_pause, args.idle_timeout, broker, Path(tmp))
    print_long_pause(result, args.idle_timeout)
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="pauses per approach and round-trip time")
    parser.add_argument("--rtt", type=float, nargs="+", default=[0.0, 50.0], help="emulated round-trip times, ms")
    parser.add_argument("--long-pause", type=float, default=300.0, help="seconds; 0 skips the long pause")
    parser.add_argument("--idle-timeout", type=float, default=120.0,
                        help="the emulator's idle close during the long pause, seconds")
    parser.add_argument("--long-pause-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("transitions").setLevel(logging.WARNING)
    if args.long_pause_only:
        return long_pause_main(args)

    print(f"bench_pause: {args.rounds} rounds per approach, RTT {args.rtt} ms; machine: {MACHINE}")
    started = time.monotonic()
    long_pause = None
    if args.long_pause > 0:
        # At real time it takes minutes, so it runs alongside the rounds, in a process of its own.
        long_pause = subprocess.Popen(
            [sys.executable, __file__, "--long-pause-only", "--long-pause", str(args.long_pause),
             "--idle-timeout", str(args.idle_timeout)],
            stdout=subprocess.PIPE, text=True,
        )
    try:
        with tempfile.TemporaryDirectory(prefix="bench-pause-") as tmp, Broker() as broker:
            workdir = Path(tmp)
            pcm, planned = traceable_meeting(rounds_script(args.rounds), default_gap=0.6)
            wav = write_pcm_wav(workdir / "rounds.wav", pcm)
            rounds = plan_rounds(planned)
            print(f"rounds meeting: {len(pcm) / BYTES_PER_SECOND:.1f} s of audio, {len(planned)} utterances",
                  flush=True)
            results = []
            for rtt in args.rtt:
                for kind in (Roomscribe, Restart, RestartPrimed):
                    print(f"   running {kind.name} at RTT {rtt:g} ms ...", file=sys.stderr, flush=True)
                    results.append(run_rounds(kind, rtt, wav, pcm, planned, rounds, broker, workdir))
        print_latency(results)
        print_labels(results)
        print_privacy(results)
        if long_pause is not None:
            print("   waiting for the long pause ...", file=sys.stderr, flush=True)
            output, _ = long_pause.communicate()
            print(output, end="")
            if long_pause.returncode:
                raise SystemExit(f"the long pause failed (exit status {long_pause.returncode})")
    finally:
        if long_pause is not None and long_pause.poll() is None:
            long_pause.kill()
            long_pause.wait()
    print(f"\nwall time: {time.monotonic() - started:.0f} s")
    return 0

if __name__ == "__main__":
    raise SystemExit(main())
