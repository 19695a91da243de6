"""Benchmark: voiced tone speech against the real VAD stage and the tone decoder.

    python bench/bench_voiced.py [--lines 120] [--seed 1] [--variants]

A random meeting: `--lines` script lines from tests/support/room_audio.SENTENCES plus short replies, ten
speakers, gaps of 0.3-8 s (log-uniform). It is rendered as voiced tone speech (roomscribe.emulator.voiced)
and measured:

* decoding: exact text + speaker of every line, clean, at -20 and +6 dB of gain, under white noise at 15 dB
  SNR, and through the streaming recognizer in 20 ms chunks; worst edge error against the plan;
* the VAD stage (pymicro-vad, VoiceStage defaults): chunks kept per line (worst line, all lines), clipping at
  starts and ends, audio sent in the silences beyond the hangover (1.2 s) and the pre-roll plus the voice's
  lead, audio sent against the lines' time.

With --variants, the same meeting as plain tone speech and with other settings, to show why the defaults.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.support, when run from anywhere

from roomscribe.audio.vad import make_speech_detector
from roomscribe.core.voice_filter import VoiceStage
from roomscribe.emulator import voiced
from roomscribe.emulator.phrases import Phrase
from roomscribe.emulator.recognizer import ToneRecognizer
from roomscribe.emulator.script import parse_script, synthesize
from roomscribe.emulator.decode import decode

from tests.support.room_audio import SENTENCES
from tests.support.vad_score import run_stage

CHUNK_S = 0.01
PRE_ROLL_S = 0.42  # pre-roll 400 ms + the two onset chunks before the one that opens the stage
TRAILING_S = 1.2
SHORT = ("Yes.", "No.", "OK.", "Agreed!", "I will.", "Right.", "Thanks!", "Sure, go ahead.")
GAPS_S = (0.3, 8.0)
NAMES = ("Anna", "Ben", "Chloe", "David", "Emma", "Farid", "Grace", "Hiro", "Ines", "Jon")


def random_script(lines: int, seed: int) -> str:
    rng = np.random.default_rng(seed)
    out, speaker = [], -1
    for _ in range(lines):
        out.append(f"[silence {np.exp(rng.uniform(np.log(GAPS_S[0]), np.log(GAPS_S[1]))):.2f}]")
        text = str(rng.choice(SHORT if rng.random() < 0.25 else SENTENCES[:-1]))
        # The next speaker is always another one: one speaker's lines closer than the segmentation silence
        # are one phrase to the service, as they would be to Azure.
        speaker = (speaker + 1 + int(rng.integers(len(NAMES) - 1))) % len(NAMES)
        out.append(f"{NAMES[speaker]}: {text}")
    return "\n".join(out)


def exact(pcm: np.ndarray, want: list) -> int:
    return sum(a == b for a, b in zip([(p.text, p.speaker) for p in decode(pcm)], want))


def streamed(pcm: np.ndarray, want: list) -> int:
    data, recognizer, events = pcm.astype("<i2").tobytes(), ToneRecognizer(), []
    for i in range(0, len(data), 640):
        events += recognizer.feed(data[i:i + 640])
    got = [(e.text, e.speaker) for e in events + recognizer.flush() if isinstance(e, Phrase)]
    return sum(a == b for a, b in zip(got, want))


def vad_figures(pcm: np.ndarray, plan: list, settings: voiced.VoicedSettings) -> dict:
    sent = run_stage(pcm.astype("<i2").tobytes(), VoiceStage(make_speech_detector())).sent
    kept, starts, ends, inside_total, inside_sent = [], [], [], 0, 0
    for u in plan:
        inside = sent[int(np.floor(u.start / CHUNK_S)):int(np.ceil(u.end / CHUNK_S))]
        k = np.flatnonzero(inside)
        kept.append(inside.mean())
        starts.append((k[0] if k.size else inside.size) * 10)
        ends.append((inside.size - 1 - k[-1] if k.size else inside.size) * 10)
        inside_total += inside.size
        inside_sent += int(inside.sum())
    edges = [0.0] + [t for u in plan for t in (u.start, u.end)] + [sent.size * CHUNK_S]
    beyond = 0
    for k in range(0, len(edges), 2):
        trail = max(0.0, settings.min_voice_s - settings.lead_s - (edges[k] - edges[k - 1])) if k else 0.0
        lo = edges[k] + (TRAILING_S + trail if k else 0.0)
        hi = edges[k + 1] - (PRE_ROLL_S + settings.lead_s if k + 2 < len(edges) else 0.0)
        if hi > lo:
            beyond += int(sent[int(np.ceil(lo / CHUNK_S)):int(np.floor(hi / CHUNK_S))].sum())
    span = sum(u.end - u.start for u in plan)
    return {
        "kept_all": inside_sent / inside_total,
        "kept_worst": min(kept),
        "lines_whole": sum(kv >= 0.995 and s <= 100 and e <= 100 for kv, s, e in zip(kept, starts, ends)),
        "clip_start_max": max(starts),
        "clip_end_max": max(ends),
        "beyond_s": beyond * CHUNK_S,
        "sent_over_span": sent.sum() * CHUNK_S / span,
        "broken": [(f"{u.text[:40]!r} ({voiced.VOICES[u.speaker_index]})", round(kv, 3), s, e)
                   for u, kv, s, e in zip(plan, kept, starts, ends)
                   if not (kv >= 0.995 and s <= 100 and e <= 100)],
    }


def report(name: str, pcm: np.ndarray, plan: list, settings: voiced.VoicedSettings, decoding: bool = True) -> None:
    want = [(u.text, u.speaker_index) for u in plan]
    n = len(plan)
    v = vad_figures(pcm, plan, settings)
    print(f"{name}:")
    print(f"  VAD stage: lines whole {v['lines_whole']}/{n}; chunks kept {100 * v['kept_all']:.2f} % "
          f"(worst line {100 * v['kept_worst']:.1f} %); clipping worst {v['clip_start_max']} / {v['clip_end_max']} ms; "
          f"silence sent beyond allowances {v['beyond_s']:.2f} s; sent / line time {v['sent_over_span']:.2f}x")
    for text, kept, start, end in v["broken"][:8]:
        print(f"    not whole: {text} kept {100 * kept:.1f} %, clipped {start} / {end} ms")
    if not decoding:
        return
    phrases = decode(pcm)
    edge = max(max(abs(p.offset / 16000 - u.start), abs((p.offset + p.duration) / 16000 - u.end))
               for p, u in zip(phrases, plan)) * 1000
    gains = {g: exact(np.clip(np.round(pcm * 10 ** (g / 20)), -32768, 32767).astype(np.int16), want) for g in (-20, 6)}
    level = np.sqrt(np.mean(pcm[pcm != 0].astype(np.float64) ** 2))
    noisy = pcm + np.random.default_rng(3).standard_normal(pcm.size) * level * 10 ** (-15 / 20)
    noise = exact(np.clip(np.round(noisy), -32768, 32767).astype(np.int16), want)
    print(f"  decoding exact: clean {exact(pcm, want)}/{n}, gain -20 dB {gains[-20]}/{n}, +6 dB {gains[6]}/{n}, "
          f"15 dB SNR {noise}/{n}, streamed 20 ms {streamed(pcm, want)}/{n}; worst edge {edge:.0f} ms")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=120)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--variants", action="store_true")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                        help="a VoicedSettings field for the main run (repeatable)")
    args = parser.parse_args()
    script = random_script(args.lines, args.seed)
    started = time.process_time()
    settings = voiced.VoicedSettings(**{k: float(v) for k, v in (item.split("=", 1) for item in args.set)})
    pcm, plan = voiced.voiced_meeting(script, settings=settings)
    seconds = pcm.size / 16000
    print(f"{len(plan)} lines, {seconds / 60:.1f} min, lines {sum(u.end - u.start for u in plan) / seconds:.0%} of it; "
          f"rendered in {time.process_time() - started:.1f} CPU s (espeak-ng renders cached)")
    report(f"voiced {settings}", pcm, plan, settings)
    if args.variants:
        plain, _ = synthesize(parse_script(script))
        report("plain tone speech", plain, plan, voiced.VoicedSettings(lead_s=0.0, min_voice_s=0.0), decoding=False)
        for changes in ({"lead_s": 0.0}, {"lead_s": 0.15}, {"envelope_floor_db": 0.0}, {"envelope_floor_db": -20.0},
                        {"in_band_db": -8.0}, {"out_band_db": 3.0}):
            settings = voiced.VoicedSettings(**changes)
            pcm, plan = voiced.voiced_meeting(script, settings=settings)
            report(f"voiced, {changes}", pcm, plan, settings)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
