"""The whole daemon with the voice stage on against off, side by side on one voiced meeting.

    python bench/bench_vad_daemon.py [--minutes 10] [--seed 3]

Two `python -m roomscribe run` processes start together and play the same WAV at real time, each against
its own emulator (in this process) and the same Mosquitto: one with `audio.vad.enabled: true` (the
default), one with `false`. The meeting is voiced tone speech (emulator/voiced.py: espeak-ng speech that
the detector hears over tones that the emulator decodes), lines from tests/support/room_audio.py with
gaps of 0.3-60 s (log-uniform; speech about a quarter of the time), over room noise (fan, pink noise and
babble) 25 dB below the speech.

For both it prints the CPU per audio minute: over the whole life of the process (os.wait4) and while the
audio plays (/proc, the same wall-clock window for both). It also prints peak RSS, the audio the service
received and the lines it transcribed. For the stage it prints the time from each voice's onset (as
captured) to the arrival of that audio at the emulator. Every received byte is placed in the capture
with demo/privacy_audit.py; the capture clock is anchored on the fastest live frame.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.support, when run from anywhere

from bench_footprint import BENCH_DIR, Child, cpu_seconds, daemon_config, received_bytes  # noqa: E402
from common import MACHINE, Broker, write_pcm_wav  # noqa: E402

from roomscribe.core.audio_format import BYTES_PER_SECOND, SAMPLE_RATE  # noqa: E402
from roomscribe.demo.privacy_audit import account  # noqa: E402
from roomscribe.emulator.voiced import VoicedSettings, voiced_meeting  # noqa: E402
from tests.support import room_audio as ra  # noqa: E402

NAMES = ("Anna", "Ben", "Chloe", "David", "Emma", "Farid")
GAPS_S = (0.3, 60.0)  # as the room day of bench_vad.py: speech about a quarter of the time
NOISE_BELOW_SPEECH_DB = 25.0
STEADY_MARGIN_S = 5.0  # the CPU window starts this long after the audio starts and ends this long before it ends
END_WAIT_S = 8.0  # after the audio: the last phrase's end, then SIGTERM


def meeting(minutes: float, seed: int) -> tuple[bytes, list, float]:
    """(PCM bytes, plan, voice onsets in seconds): a voiced meeting of about `minutes`, in room noise."""
    rng = np.random.default_rng(seed)
    lines, seconds, speaker = [], 0.0, -1
    while seconds < minutes * 60 - 20:
        gap = float(np.exp(rng.uniform(np.log(GAPS_S[0]), np.log(GAPS_S[1]))))
        text = str(rng.choice(ra.SENTENCES))
        speaker = (speaker + 1 + int(rng.integers(len(NAMES) - 1))) % len(NAMES)
        lines += [f"[silence {gap:.2f}]", f"{NAMES[speaker]}: {text}"]
        seconds += gap + len(text) * 0.07 + 0.5  # about the tone speech's length of a line
    settings = VoicedSettings()
    samples, plan = voiced_meeting("\n".join(lines) + "\n[silence 3]\n", settings=settings)
    onsets, before = [], 0.0
    for k, utterance in enumerate(plan):  # where voiced_meeting starts each voice (its `lead`)
        lead = min(settings.lead_s, (utterance.start - before) / (2 if k else 1))
        onsets.append(utterance.start - lead)
        before = utterance.end
    mix = samples.astype(np.float64)
    spans = np.concatenate([mix[round(u.start * SAMPLE_RATE):round(u.end * SAMPLE_RATE)] for u in plan])
    level = float(np.sqrt(np.mean(spans ** 2)))
    noise = ra.room_noise(mix.size / SAMPLE_RATE, rng, "room")[:mix.size]
    mix += noise * level * 10 ** (-NOISE_BELOW_SPEECH_DB / 20)
    pcm = np.clip(np.round(mix), -32768, 32767).astype("<i2").tobytes()
    return pcm, plan, np.array(onsets)


class Daemon:
    """One measured daemon process."""

    def __init__(self, name: str, config: Path, emu, log_path: Path):
        self.name, self.emu = name, emu
        self._log = open(log_path, "wb")
        self.process = subprocess.Popen([sys.executable, "-m", "roomscribe", "run", "-c", str(config)],
                                        stdout=self._log, stderr=subprocess.STDOUT, cwd=BENCH_DIR.parent)
        self.peak: list[float] = []
        self._watcher = threading.Thread(target=Child._watch_peak, args=(self.process, self.peak), daemon=True)
        self._watcher.start()
        self.window_cpu: list[float] = []

    def sample_cpu(self) -> None:
        self.window_cpu.append(cpu_seconds(self.process.pid))

    def kill(self) -> None:
        """For an interrupted run: no daemon is left behind."""
        if self.process.returncode is None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def stop(self) -> tuple[float, int]:
        """SIGTERM, reap: (CPU seconds of the whole life, exit status)."""
        self.process.send_signal(signal.SIGTERM)
        self._watcher.join(timeout=30)
        _, status, usage = os.wait4(self.process.pid, 0)
        self.process.returncode = os.waitstatus_to_exitcode(status)
        self._log.close()
        return usage.ru_utime + usage.ru_stime, self.process.returncode


def received_seconds(record) -> float:
    return received_bytes(record) / BYTES_PER_SECOND


def onset_delays(record, captured: bytes, onsets: np.ndarray, plan) -> tuple[list[float], list[float]]:
    """Per line, the seconds from its voice onset (as captured) to the arrival of that sample at the
    emulator, and how much of the line's start was not sent (seconds)."""
    frames = sorted((f for f in record.audio_frames() if f.kind == "pcm"), key=lambda f: f.arrived_at)
    placed = []  # (stream start, length, capture start, session)
    for session in record.audio_session_ids():
        placed += [(p.received_at, p.length, p.captured_at, session)
                   for p in account(record.audio_bytes(session), captured) if p.captured_at is not None]

    def stream_to_capture(session: str, offset: int) -> int | None:
        for start, length, at, s in placed:
            if s == session and start <= offset < start + length:
                return at + offset - start
        return None

    def first_arrival(session: str, offset: int) -> float:
        return next(f.arrived_at for f in frames
                    if f.audio_session_id == session and f.stream_offset <= offset < f.stream_offset + f.size)

    # The capture clock: capture offset x was captured at anchor + x / rate. No frame arrives before its last
    # byte was captured, so the fastest live frame gives the anchor (plus the path's least delay).
    anchor = min(f.arrived_at - (end + 2) / BYTES_PER_SECOND for f in frames
                 if (end := stream_to_capture(f.audio_session_id, f.stream_offset + f.size - 2)) is not None)
    delays, clipped = [], []
    for onset_s, utterance in zip(onsets, plan):
        x = int(onset_s * SAMPLE_RATE) * 2
        end = int(utterance.end * SAMPLE_RATE) * 2
        # The first placed piece that holds the onset, or else the first one after it within the line.
        hits = [(max(at, x), start + max(at, x) - at, s) for start, length, at, s in placed
                if at + length > x and at < end]
        if not hits:
            delays.append(float("nan"))
            clipped.append(utterance.end - onset_s)
            continue
        at, offset, session = min(hits)
        clipped.append((at - x) / BYTES_PER_SECOND)
        delays.append(first_arrival(session, offset) - (anchor + at / BYTES_PER_SECOND))
    return delays, clipped


def play(daemons: list[Daemon], audio_s: float, work: Path) -> list[tuple[float, int]]:
    """Waits for the audio, reads both CPUs at the window's ends, stops both after the audio: (CPU s, status) each."""
    off = daemons[1]
    deadline = time.monotonic() + 60
    while not off.emu.record.audio_frames() and time.monotonic() < deadline:
        time.sleep(0.02)
    if not off.emu.record.audio_frames():
        raise RuntimeError(f"no audio reached the emulator in 60 s; see {work}/stage-off/roomscribe.log")
    started = time.monotonic()  # the audio plays from about now in both (they started together)
    for moment in (STEADY_MARGIN_S, audio_s - STEADY_MARGIN_S):
        time.sleep(max(0.0, started + moment - time.monotonic()))
        for daemon in daemons:
            daemon.sample_cpu()
    time.sleep(max(0.0, started + audio_s + END_WAIT_S - time.monotonic()))
    totals = [daemon.stop() for daemon in daemons]
    return totals


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="length of the meeting, played at real time")
    parser.add_argument("--seed", type=int, default=3)
    args = parser.parse_args()

    from roomscribe.emulator import EmulatorThread

    print(f"bench_vad_daemon: {args.minutes:g} min at real time, stage on and off at once; machine: {MACHINE}")
    pcm, plan, onsets = meeting(args.minutes, args.seed)
    audio_s = len(pcm) / BYTES_PER_SECOND
    speech_s = sum(u.end - u.start for u in plan)
    print(f"meeting: {audio_s:.0f} s, {len(plan)} lines, tones {100 * speech_s / audio_s:.0f} % of the time, "
          f"room noise {NOISE_BELOW_SPEECH_DB:g} dB below the speech", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-vad-daemon-") as tmp, Broker() as broker, \
            EmulatorThread() as emu_on, EmulatorThread() as emu_off:
        work = Path(tmp)
        wav = write_pcm_wav(work / "meeting.wav", pcm)
        daemons = []
        for name, emu, vad in (("stage on", emu_on, True), ("stage off", emu_off, False)):
            folder = work / name.replace(" ", "-")
            folder.mkdir()
            config = daemon_config(folder / "roomscribe.yaml", broker_port=broker.port, emulator_url=emu.host_url,
                                   wav=wav, workdir=folder, vad=vad)
            daemons.append(Daemon(name, config, emu, folder / "roomscribe.log"))
        try:
            totals = play(daemons, audio_s, work)
        finally:
            for daemon in daemons:
                daemon.kill()
        on, off = daemons
        delays, clipped = onset_delays(on.emu.record, pcm, onsets, plan)
        window_s = audio_s - 2 * STEADY_MARGIN_S

        print(f"\n{'':34s}{'stage on':>12s}{'stage off':>12s}{'on / off':>10s}")

        def row(label: str, a: float, b: float, fmt: str = ".3f") -> None:
            print(f"{label:34s}{format(a, fmt):>12s}{format(b, fmt):>12s}{a / b:10.2f}")

        row("CPU s / audio min, whole life", totals[0][0] / audio_s * 60, totals[1][0] / audio_s * 60)
        row("CPU s / audio min, audio playing", *[(d.window_cpu[1] - d.window_cpu[0]) / window_s * 60 for d in daemons])
        row("peak RSS, MB", max(on.peak), max(off.peak), ".1f")
        row("audio received by the service, s", received_seconds(on.emu.record), received_seconds(off.emu.record), ".1f")
        print(f"{'lines transcribed (of ' + str(len(plan)) + ')':34s}{len(on.emu.record.phrases()):>12d}"
              f"{len(off.emu.record.phrases()):>12d}")
        print(f"{'exit status':34s}{totals[0][1]:>12d}{totals[1][1]:>12d}")
        print(f"(audio playing: {window_s:.0f} s, the same wall-clock window for both; tones {speech_s:.0f} s)")

        found = np.array([d for d in delays if d == d]) * 1000
        print(f"\nstage on, voice onset -> its first byte at the emulator ({found.size} of {len(plan)} lines): "
              f"median {np.median(found):.0f} ms, p90 {np.percentile(found, 90):.0f} ms, max {found.max():.0f} ms")
        late = np.array(clipped) * 1000
        print(f"  lines whose voice onset was not sent: {int(np.sum(late > 0))}, at most {late.max():.0f} ms of it "
              "(the voice starts up to 350 ms before its tones)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
