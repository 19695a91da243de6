"""A speech service that stops answering, and one that goes away: what it costs, with the default settings.

    python bench/bench_stall.py                       # stalls and outages of 10 s, 60 s, 5 min, 15 min, side by side
    python bench/bench_stall.py --seconds 10 60       # only these lengths

Each run is bench/stall_scenario.py: the daemon (`roomscribe run`, default settings but for a tone-speech
file at real time with silence suppression off) and its own emulator as processes, a private Mosquitto,
two people talking without a break. A **stall** SIGSTOPs the emulator (its sockets stay open, as in a
network black hole) and SIGCONTs it; an **outage** kills it and starts a new one on the same port. 20 s of
talk before, 25 s after. Printed per run:

* speech lost: utterances never published (and the seconds of speech in them); audio the daemon reported
  lost (`audio_lost`);
* detection: from the stop to the first state that is not `transcribing` (none: the service was back
  before the stall bound);
* said during the outage: how much later than its end the latest of those utterances was published;
* late utterances: how many, and `late_by_s` (from the end of the speech to its publication), median and max;
* return → last late published: from the service's return to the last late utterance published;
* buffer peak: the most memory the outage buffer held (`speech_caught_up`'s `kept_peak_mb`);
* RSS of the daemon: before the outage, its peak, and at the end.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

from common import MACHINE, Broker
from stall_scenario import Outcome, Scenario, run_all, workdir


def figures(out: Outcome) -> dict:
    published = {p["text"] for _, p in out.transcripts}
    missing = [u for u in out.planned if u.text not in published]
    late = [(at, p) for at, p in out.transcripts if p["late"]]
    delays = [p["late_by_s"] for _, p in late]
    # Found: a state other than transcribing while the service was away (a stall under the bound is not).
    after = [(at, s) for at, s in out.states
             if out.outage_began <= at <= out.outage_ended + 1.0 and s["state"] != "transcribing"]
    during = [(at, u) for (at, p), u in zip(out.transcripts, out.planned)
              if p["text"] == u.text and out.t0 + u.end > out.outage_began and out.t0 + u.start < out.outage_ended]
    delays_all = [at - (out.t0 + u.end) for at, u in during]
    caught = out.events_of("speech_caught_up")
    before = out.rss_at(out.outage_began)
    return {
        "utterances": len(out.planned),
        "lost": len(missing),
        "lost_speech_s": sum(u.end - u.start for u in missing),
        "reported_lost_s": sum(e["detail"]["seconds"] for e in out.events_of("audio_lost")),
        "detect_s": after[0][0] - out.outage_began if after else None,
        "said_during_max_delay_s": max(delays_all) if delays_all else None,
        "late": len(late),
        "late_median_s": statistics.median(delays) if delays else None,
        "late_max_s": max(delays) if delays else None,
        "return_to_last_s": late[-1][0] - out.outage_ended if late else None,
        "kept_peak_mb": max((e["detail"]["kept_peak_mb"] for e in caught), default=None),
        "rss_mb": (before / 1024, max(k for _, k in out.rss) / 1024, out.rss[-1][1] / 1024),
    }


def show(value, fmt: str = "{:.1f}") -> str:
    return "–" if value is None else fmt.format(value)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, nargs="+", default=[10, 60, 300, 900])
    parser.add_argument("--kinds", nargs="+", default=["stall", "kill"], choices=["stall", "kill", "mute"])
    args = parser.parse_args()
    broker = Broker().start()
    where = workdir()
    scenarios = [Scenario(f"{kind}{int(seconds)}", kind, seconds, broker.port, workdir=where,
                          timeout_s=seconds * 1.5 + 300)
                 for seconds in args.seconds for kind in args.kinds]
    print(f"{len(scenarios)} runs side by side ({MACHINE}); files in {where}", flush=True)
    began = time.monotonic()
    try:
        results = run_all(scenarios)
    finally:
        broker.stop()
    print(f"wall time {time.monotonic() - began:.0f} s\n")
    print("| run | utterances | lost (speech s) | reported lost s | detect s | said during the outage: "
          "published up to s later | late | late by s, median / max | return → last late s | buffer peak MB "
          "| RSS MB before / peak / end |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    failed = 0
    for scenario, out in zip(scenarios, results):
        if isinstance(out, BaseException):
            failed += 1
            print(f"| {scenario.name} | failed: {out!r} |")
            continue
        f = figures(out)
        rss = " / ".join(f"{v:.1f}" for v in f["rss_mb"])
        print(f"| {out.name} | {f['utterances']} | {f['lost']} ({f['lost_speech_s']:.1f}) | {f['reported_lost_s']:.1f} "
              f"| {show(f['detect_s'])} | {show(f['said_during_max_delay_s'])} | {f['late']} "
              f"| {show(f['late_median_s'])} / {show(f['late_max_s'])} "
              f"| {show(f['return_to_last_s'])} | {show(f['kept_peak_mb'])} | {rss} |")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
