"""Tone-speech codec speed: a 10-minute two-speaker meeting encoded and decoded, as multiples of real time.

    python bench/bench_codec.py [--minutes 10] [--chunk-ms 20]

Prints CPU seconds (process time, so other load on the machine matters less) and real-time factors
for synthesis, for streaming recognition in chunks of --chunk-ms, and for one-buffer decoding, plus
how many phrases came back exactly.
"""

from __future__ import annotations

import argparse
import random
import time

from roomscribe.emulator.phrases import Phrase
from roomscribe.emulator.recognizer import ToneRecognizer
from roomscribe.emulator.script import ScriptGap, ScriptLine, synthesize
from roomscribe.emulator.decode import decode

WORDS = (
    "we the budget for next quarter looks fine but travel costs rose 12% since March; can you check "
    "invoices? Yes, I'll do it by Friday. Great - let's move on: hiring, the office move and Q3 goals. "
    "Anna's team shipped release 2.4.1 on time! Does anyone object? No. OK, thanks everyone"
).split()


def meeting(minutes: float, seed: int = 1) -> list[ScriptLine | ScriptGap]:
    """Alternating speakers, 3-14 word lines, now and then a longer silence, about `minutes` long."""
    rnd = random.Random(seed)
    items: list[ScriptLine | ScriptGap] = []
    seconds = 0.0
    while seconds < minutes * 60:
        text = " ".join(rnd.choice(WORDS) for _ in range(rnd.randint(3, 14)))
        items.append(ScriptLine(f"Guest-{len(items) % 2 + 1}", text))
        seconds += len(text) * 0.064 + 1.0
        if rnd.random() < 0.1:
            items.append(ScriptGap(rnd.uniform(2, 6)))
            seconds += 2
    return items


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--chunk-ms", type=int, default=20)
    args = parser.parse_args()

    items = meeting(args.minutes)
    started = time.process_time()
    pcm, plan = synthesize(items)
    encode_cpu = time.process_time() - started
    audio_seconds = pcm.size / 16000
    data = pcm.tobytes()

    recognizer = ToneRecognizer()
    chunk = 16000 * 2 * args.chunk_ms // 1000
    started = time.process_time()
    events = []
    for begin in range(0, len(data), chunk):
        events += recognizer.feed(data[begin : begin + chunk])
    events += recognizer.flush()
    stream_cpu = time.process_time() - started

    started = time.process_time()
    whole = decode(pcm)
    decode_cpu = time.process_time() - started

    streamed = [e for e in events if isinstance(e, Phrase)]
    expected = [(u.text, u.speaker_index) for u in plan]
    exact = sum(1 for p, e in zip(streamed, expected) if (p.text, p.speaker) == e)
    print(f"meeting: {audio_seconds:.0f} s of audio, {len(plan)} utterances, 2 speakers")
    for name, cpu in (
        ("encode (synthesize)", encode_cpu),
        (f"recognize, {args.chunk_ms} ms chunks", stream_cpu),
        ("decode, one buffer", decode_cpu),
    ):
        share = 100 * cpu / audio_seconds
        print(f"{name:28s} {cpu:6.2f} CPU s   {audio_seconds / cpu:7.0f}x real time   {share:.2f}% of real time")
    print(
        f"phrases exact (text and speaker): {exact}/{len(expected)} planned, {len(streamed)} heard; "
        f"one-buffer decode identical: {whole == streamed}"
    )


if __name__ == "__main__":
    main()
