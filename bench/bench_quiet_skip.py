"""The daemon's detector (pymicro-vad resting in quiet stretches) against pymicro-vad on every chunk.

    python bench/bench_quiet_skip.py [--days 8] [--minutes 20]

The same voice stage (default settings) on `--days` synthesized room days (tests/support/room_audio.py:
espeak-ng utterances of 1-15 s, gaps of 0.3-60 s, speech about a quarter of the time, fan + pink noise +
babble, SNR 5-30 dB), seeds 2, 3, ...: core/quiet_skip.py answers for the detector in quiet stretches, so
its decisions can differ. Prints, per day and summed: speech chunks sent, utterance starts and ends clipped
by more than 100 ms, audio sent against speech time, the share of chunks the detector heard, and the
stage's CPU per audio minute both ways (process time, the two stages run one after the other per day).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.support, when run from anywhere

from common import MACHINE  # noqa: E402

from roomscribe.audio.vad import MicroVadDetector, make_speech_detector  # noqa: E402
from roomscribe.core.voice_filter import VoiceStage  # noqa: E402
from tests.support import room_audio as ra  # noqa: E402
from tests.support.vad_score import run_stage, score  # noqa: E402

WAYS = {"every chunk": MicroVadDetector, "resting (daemon)": make_speech_detector}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=8)
    parser.add_argument("--minutes", type=float, default=20.0, help="length of each room day")
    args = parser.parse_args()
    print(f"bench_quiet_skip: {args.days} room days of {args.minutes:g} min; machine: {MACHINE}")
    totals = {name: np.zeros(8) for name in WAYS}  # speech, sent, starts, ends, utterances, sent s, span s, cpu s
    shares = []
    audio_minutes = 0.0
    for seed in range(2, 2 + args.days):
        audio = ra.room_day(args.minutes, seed=seed)
        audio_minutes += audio.seconds / 60
        line = []
        for name, make in WAYS.items():
            detector = make()
            stage = VoiceStage(detector)
            t0 = time.process_time()
            run = run_stage(audio.pcm, stage)
            cpu = time.process_time() - t0
            s = score(audio, run)
            totals[name] += [s.speech_chunks, s.speech_chunks_sent, np.sum(s.clip_start_ms > 100),
                             np.sum(s.clip_end_ms > 100), len(s.clip_start_ms), s.sent_seconds, s.span_seconds, cpu]
            share = detector.stats.detector_share if hasattr(detector, "stats") else 1.0
            if share < 1.0:
                shares.append(share)
            line.append(f"{name}: {100 * s.kept:.2f} %, worst start {s.clip_start_ms.max():.0f} ms, "
                        f"{s.sent_seconds / s.span_seconds:.3f}x, heard {100 * share:.0f} %")
        print(f"  day {seed}: " + "; ".join(line), flush=True)
    print(f"\n{'':20s}{'speech sent':>12s}{'starts >100':>12s}{'ends >100':>10s}{'sent/speech':>12s}"
          f"{'heard':>8s}{'CPU s/min':>11s}")
    for name, t in totals.items():
        heard = 100 * float(np.mean(shares)) if name != "every chunk" else 100.0
        print(f"{name:20s}{100 * t[1] / t[0]:11.2f}%{int(t[2]):>7d} of {int(t[4])}{int(t[3]):>7d}"
              f"{t[5] / t[6]:11.3f}x{heard:7.0f}%{t[7] / audio_minutes:11.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
