"""Benchmark: a long two-speaker meeting through the real Speech SDK into the emulator, as fast as they go.

    python bench/bench_emulator.py [--minutes 10] [--one-way-delay-ms 0]

Prints audio seconds per wall second (target >= 20x), the emulator's CPU seconds per audio minute (its
own thread, measured with the thread's CPU clock), word and character accuracy and speaker-label
accuracy (targets 100 %). The push stream is written as fast as the emulator acknowledges audio, never
more than 40 s ahead, as the SDK allows at most 66 s of unacknowledged audio.
"""

from __future__ import annotations

import argparse
import random
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.support, when run from anywhere

from roomscribe.emulator import EmulatorThread, FaultPlan  # noqa: E402
from tests.support.emulator_sdk import SdkTranscriber, script_pcm  # noqa: E402

WORDS = (
    "budget agenda project meeting quarter sales numbers team office lease review plan client report design "
    "release schedule risk cost hiring training customer support product market growth target deadline update "
    "issue question answer decision action item next week Monday Friday morning afternoon good fine agreed"
).split()


def meeting_script(minutes: float, seed: int = 7) -> str:
    """Alternating speakers (sometimes the same one twice), sentences of 3-9 words, 0.6-2.0 s apart."""
    rng = random.Random(seed)
    lines, seconds, speaker = [], 0.0, "Alice"
    while seconds < minutes * 60 - 5:
        if rng.random() < 0.8:
            speaker = "Bob" if speaker == "Alice" else "Alice"
        sentence = " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 9))).capitalize() + rng.choice(".?!,")
        gap = round(rng.uniform(0.6, 2.0), 2)
        lines += [f"[silence {gap}]", f"{speaker}: {sentence}"]
        seconds += gap + len(sentence) * 0.064
    return "\n".join(lines[1:]) + "\n"


def edit_distance(a: list | str, b: list | str) -> int:
    previous = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        current = [i]
        for j, y in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (x != y)))
        previous = current
    return previous[-1]


def thread_cpu_seconds(thread: threading.Thread) -> float:
    return time.clock_gettime(time.pthread_getcpuclockid(thread.ident))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="length of the meeting (default 10)")
    parser.add_argument("--one-way-delay-ms", type=float, default=0.0, help="emulated network delay, each way")
    args = parser.parse_args()

    pcm, planned = script_pcm(meeting_script(args.minutes))
    audio_seconds = len(pcm) / 32000
    print(f"meeting: {audio_seconds:.1f} s of tone speech, {len(planned)} utterances, 2 speakers")

    with EmulatorThread(FaultPlan(one_way_delay_ms=args.one_way_delay_ms), key="bench") as emu:
        loop_thread = emu.thread  # the emulator's own thread: its CPU clock is the emulator's cost
        with SdkTranscriber(emu.host_url, "bench") as sdk:
            sdk.start()
            cpu_before, process_before = thread_cpu_seconds(loop_thread), time.process_time()
            started = time.monotonic()
            sdk.push(pcm, acknowledged=emu.record.acknowledged_bytes, max_unacknowledged_seconds=40)
            sdk.close_stream()
            sdk.wait_for(lambda s: s.events("session_stopped"), 300, "the end of the session")
            wall = time.monotonic() - started
            emulator_cpu = thread_cpu_seconds(loop_thread) - cpu_before
            process_cpu = time.process_time() - process_before
            results = sdk.transcribed()
            canceled = [(c.reason, c.code) for c in sdk.canceled()]
        connections = len(emu.record.connections)
        audio_equal = emu.record.audio_bytes() == pcm

    # Each planned utterance is compared with the phrase that starts within 20 ms of it; phrases that
    # match nothing count as inserted text.
    by_bin = {round(r.offset / 1e5): r for r in results}  # 10 ms bins
    matched, word_errors, char_errors, labels_right = set(), 0, 0, 0
    for p in planned:
        centre = round(p.start * 100)
        match = next((by_bin[b] for b in range(centre - 2, centre + 3) if b in by_bin), None)
        heard = match.text if match is not None else ""
        matched.add(id(match))
        word_errors += edit_distance(heard.split(), p.text.split())
        char_errors += edit_distance(heard, p.text)
        labels_right += match is not None and match.speaker == f"Guest-{p.speaker_index + 1}"
    for r in results:
        if id(r) not in matched:
            word_errors += len(r.text.split())
            char_errors += len(r.text)
    said_words = sum(len(p.text.split()) for p in planned)
    said_chars = sum(len(p.text) for p in planned)

    print(f"wall time:                 {wall:.2f} s")
    print(f"speed:                     {audio_seconds / wall:.1f} audio seconds per wall second (target >= 20)")
    print(f"emulator CPU:              {emulator_cpu / (audio_seconds / 60):.3f} s per audio minute "
          f"({emulator_cpu:.2f} s in all; whole process incl. the SDK {process_cpu:.2f} s)")
    print(f"phrases:                   {len(results)} of {len(planned)}")
    print(f"word accuracy:             {100 * (1 - word_errors / said_words):.2f} %  ({word_errors} word errors)")
    print(f"character accuracy:        {100 * (1 - char_errors / said_chars):.2f} %  ({char_errors} character errors)")
    print(f"speaker-label accuracy:    {100 * labels_right / len(planned):.2f} %")
    print(f"connections: {connections}; session end: {canceled}; received audio equals the meeting: {audio_equal}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
