"""What language identification costs in latency, as far as the emulator models it.

    python bench/bench_language_id.py [--rounds 2]

Azure documents that "the initial latency is higher with language identification" and gives no figure. The
emulator models it one way only (emulator/hearing.py): while it decides an utterance's language it sends no
partial result, for the first LANGUAGE_DECISION_SAMPLES (1 s) of the utterance's speech, with continuous
identification on every utterance, at-start on the session's first; final results are not held. So this
measures the emulator's model through the real SDK and roomscribe's Azure adapter, side by side in one run:
the delay from an utterance's first sample being written (at real time) to its first partial and to its
final, for one fixed language, continuous and at-start identification. It says nothing about Azure's own
figures. Figures, not assertions.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "daemon"))

from roomscribe.core.audio_format import BYTES_PER_SECOND  # noqa: E402
from roomscribe.emulator.script import parse_script, synthesize  # noqa: E402
from roomscribe.emulator.thread import EmulatorThread  # noqa: E402
from roomscribe.speech.azure import AzureSpeechSession  # noqa: E402
from roomscribe.speech.session import SpeechTarget, Transcribed, Transcribing  # noqa: E402

MEETING = """\
Anna: Good morning everyone, let us look at the numbers.
Ben: <de-DE> Guten Morgen, die Zahlen sehen gut aus.
Anna: Then we can move on to the next item.
Ben: <de-DE> Ja, der naechste Punkt ist das Budget.
Anna: The budget is fine for this quarter.
Ben: <de-DE> Gut, dann sind wir fertig.
"""
MODES = {
    "one language (en-US)": dict(language="en-US"),
    "continuous [en-US, de-DE]": dict(language="en-US", candidates=("en-US", "de-DE"), language_id_mode="continuous"),
    "at start [en-US, de-DE]": dict(language="en-US", candidates=("en-US", "de-DE"), language_id_mode="at_start"),
}
CHUNK = 3200  # 100 ms


def run(emu: EmulatorThread, options: dict) -> list[tuple[float | None, float]]:
    """Per utterance: (first partial, final) seconds after its first sample was written."""
    pcm, planned = synthesize(parse_script(MEETING), lead_in=0.5, default_gap=1.5, tail=1.5)
    audio = pcm.tobytes()
    events: list[tuple[float, object]] = []
    target = SpeechTarget(key="k", region="westeurope", host=emu.host_url, segmentation_silence_ms=500,
                          diarize_intermediates=False, **options)
    session = AzureSpeechSession(target, lambda event: events.append((time.monotonic(), event)), epoch=1)
    session.set_phrases(())
    session.start()
    written_at: list[float] = []
    started = time.monotonic()
    for position in range(0, len(audio), CHUNK):
        delay = started + position / BYTES_PER_SECOND - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        written_at.append(time.monotonic())
        session.write(audio[position:position + CHUNK])
    done = threading.Event()
    deadline = time.monotonic() + 10
    while sum(isinstance(e, Transcribed) for _, e in events) < len(planned) and time.monotonic() < deadline:
        done.wait(0.05)
    session.finish(graceful=True)
    results = []
    finals = [(at, e) for at, e in events if isinstance(e, Transcribed)]
    for index, plan in enumerate(planned):
        first_written = written_at[int(plan.start * BYTES_PER_SECOND) // CHUNK]
        last_written = written_at[min(len(written_at) - 1, int(plan.end * BYTES_PER_SECOND) // CHUNK)]
        offset_ticks = finals[index][1].offset_ticks
        partials = [at for at, e in events if isinstance(e, Transcribing) and e.offset_ticks == offset_ticks]
        results.append((partials[0] - first_written if partials else None, finals[index][0] - last_written))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    figures: dict[str, list[tuple[float | None, float]]] = {name: [] for name in MODES}
    with EmulatorThread(key="k") as emu:
        for _ in range(args.rounds):
            for name, options in MODES.items():  # interleaved: the machine's noise falls on all alike
                figures[name] += run(emu, options)
    print(f"{args.rounds} rounds of {MEETING.count(chr(10))} utterances, written at real time; seconds from an "
          "utterance's first sample written to its first partial / from its last to its final")
    for name, rows in figures.items():
        partials = [p for p, _ in rows if p is not None]
        finals = [f for _, f in rows]
        print(f"{name:28s} first partial: median {statistics.median(partials):.2f} s, first utterance "
              f"{rows[0][0] if rows[0][0] is not None else float('nan'):.2f} s, {len(rows) - len(partials)} "
              f"utterances without one | final: median {statistics.median(finals):.2f} s")
        print(f"{'':28s} first partials, in order: {' '.join(f'{p:.2f}' if p is not None else '-' for p, _ in rows)}")


if __name__ == "__main__":
    main()
