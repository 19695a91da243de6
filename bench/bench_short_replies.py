"""One-word replies through the voice stage at two thresholds (the default 0.5, and 0.4).

    python bench/bench_short_replies.py [--replies 60] [--seed 5]

`--replies` one-word lines ("Yes.", "No.", "Okay.", "Right.", "Thanks!", "Sure.") from espeak-ng (the ten
voices and three rates of tests/support/room_audio.py), 2-6 s apart, each 5-30 dB above room noise (fan,
pink noise, babble). The daemon's detector and stage (defaults but the threshold). Prints speech chunks
sent, replies whose start or end was clipped by more than 100 ms, replies missed (90 % or more of them not
sent), audio sent against speech time, and what 2 minutes of empty-room noise sent.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.support, when run from anywhere

from common import MACHINE  # noqa: E402

from roomscribe.audio.vad import make_speech_detector  # noqa: E402
from roomscribe.core.voice_filter import VoiceFilterSettings, VoiceStage  # noqa: E402
from tests.support import room_audio as ra  # noqa: E402
from tests.support.vad_score import run_stage, score  # noqa: E402

REPLIES = ("Yes.", "No.", "Okay.", "Right.", "Thanks!", "Sure.")
THRESHOLDS = (0.5, 0.4)


def stage(threshold: float) -> VoiceStage:
    return VoiceStage(make_speech_detector(threshold), VoiceFilterSettings(threshold=threshold))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replies", type=int, default=60)
    parser.add_argument("--seed", type=int, default=5)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    lines = [ra.Line(str(rng.choice(REPLIES)), ra.VOICES[i % len(ra.VOICES)], ra.RATES[i % len(ra.RATES)],
                     snr_db=float(rng.uniform(5, 30)), gap_before_s=float(rng.uniform(2, 6)))
             for i in range(args.replies)]
    audio = ra.render(lines, noise="room", seed=args.seed + 3)
    lengths = np.array([(u.end_chunk - u.start_chunk) * 10 for u in audio.utterances])
    print(f"bench_short_replies: {len(lines)} replies of {lengths.min()}-{lengths.max()} ms; machine: {MACHINE}")
    for threshold in THRESHOLDS:
        s = score(audio, run_stage(audio.pcm, stage(threshold)))
        missed = int(np.sum(s.clip_start_ms + s.clip_end_ms >= 0.9 * lengths))
        empty = [run_stage(ra.noise_only(120, kind=kind, dbfs=ra.SPEECH_LEVEL_DBFS - below, seed=below),
                           stage(threshold)).sent.sum() * 0.01
                 for kind, below in (("hvac", 5), ("room", 5), ("room", 15))]
        print(f"  threshold {threshold}: speech chunks sent {100 * s.kept:.1f} %; clipped > 100 ms: "
              f"{int(np.sum(s.clip_start_ms > 100))} starts, {int(np.sum(s.clip_end_ms > 100))} ends; missed {missed} "
              f"of {len(lengths)}; audio sent {s.sent_seconds / s.span_seconds:.2f}x the replies; 2 min of fan + pink "
              f"5 dB, room 5 dB, room 15 dB below speech: {', '.join(f'{x:.1f}' for x in empty)} s sent")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
