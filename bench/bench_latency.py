"""Publish latency of the real daemon: from the speech service's result to a subscriber, on loopback.

    python bench/bench_latency.py [--utterances 40] [--speed 2] [--seed 3]

The daemon runs as `roomscribe run` does (real Speech SDK, real MQTT link, the journal) in a thread of
this process, on a tone-speech meeting played from a WAV file at `--speed` times real time. The emulator
records when it sent each `speech.phrase` (and `speech.hypothesis`); a subscriber on the same machine
records when each transcript (and partial) arrived. Both clocks are this process's `time.time()`.

Printed, p50 / p99 / max over the meeting:
* transcripts: phrase sent -> transcript at the subscriber, split where the SDK raised its callback and
  where the owner handed the utterance to its outputs (SDK | owner | journal + link + broker);
* partials: hypothesis sent -> partial at the subscriber (QoS 0), with the same split.
The probes wrap the session factory and the link's methods of the running daemon (timestamps only);
the meeting is started after they are in place, handed to the owner as a parsed MQTT command is.
With about 40 utterances the p99 is close to the maximum; the partials give hundreds of samples.
Figures, not assertions: the machine is shared; compare the parts, not absolute numbers across runs.
"""

from __future__ import annotations

import argparse
import logging
import random
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from roomscribe.app.run import session_factory_for  # noqa: E402
from roomscribe.config import settings_from_data  # noqa: E402
from roomscribe.emulator.thread import EmulatorThread  # noqa: E402
from roomscribe.outputs.mqtt.commands import Command  # noqa: E402
from tests.support.daemon_harness import TONE_SPEECH, DaemonThread, write_script_wav  # noqa: E402
from tests.support.mosquitto import Mosquitto, Recorder  # noqa: E402

KEY = "bench-key"
WORDS = ("budget agenda numbers march quarter review plan team room item next week sales report office "
         "project deadline meeting notes question answer design release test customer order").split()
SETTLE_S = 20.0  # after the last words: time for the last phrase to come back and be delivered


def meeting_script(utterances: int, seed: int) -> str:
    """`utterances` lines of 4-9 words, three speakers taking turns at random; 1 s between lines."""
    rng = random.Random(seed)
    lines = []
    for _ in range(utterances):
        words = [rng.choice(WORDS) for _ in range(rng.randint(4, 9))]
        lines.append(f"Guest-{rng.randint(1, 3)}: {' '.join(words).capitalize()}.")
    return "\n".join(lines) + "\n"


class Stamps:
    """When the SDK raised each result, and when the owner handed it to the MQTT link."""

    def __init__(self) -> None:
        self.raised: list[tuple[str, float]] = []  # final results (Transcribed), in the SDK's order
        self.raised_partials: list[tuple[str, float]] = []
        self.transcripts: dict[tuple[str, int], float] = {}
        self.partials: list[tuple[str, float]] = []
        self._lock = threading.Lock()

    def sessions(self, make):
        """A session factory that wraps `make`: every event a session emits is stamped in the SDK's callback
        thread, before the hand-over."""
        from roomscribe.speech.session import Transcribed, Transcribing

        def factory(emit, epoch):
            def stamped(event) -> None:
                now = time.time()
                if isinstance(event, (Transcribed, Transcribing)):
                    kind = self.raised if isinstance(event, Transcribed) else self.raised_partials
                    with self._lock:
                        kind.append((event.text, now))
                emit(event)

            return make(stamped, epoch)

        return factory

    def wrap(self, link) -> None:
        submit, publish_partial = link.submit_transcript, link.publish_partial

        def submit_transcript(utterance) -> None:
            with self._lock:
                self.transcripts[(utterance.meeting_id, utterance.seq)] = time.time()
            submit(utterance)

        def partial(message) -> None:
            with self._lock:
                self.partials.append((message.text, time.time()))
            publish_partial(message)

        link.submit_transcript, link.publish_partial = submit_transcript, partial


def summary(values_s: list[float]) -> str:
    ms = sorted(v * 1000 for v in values_s)
    if not ms:
        return "no samples"
    p99 = statistics.quantiles(ms, n=100, method="inclusive")[98] if len(ms) > 1 else ms[0]
    return f"p50 {statistics.median(ms):7.2f}   p99 {p99:7.2f}   max {ms[-1]:7.2f} ms"


def match_in_order(sent: list[tuple[str, float]], seen: list[tuple[str, float]]) -> list[tuple[float, float]]:
    """Pairs (sent_at, seen_at) of equal texts, walking both lists in order; unmatched sends are skipped."""
    pairs, position = [], 0
    for text, seen_at in seen:
        for index in range(position, len(sent)):
            if sent[index][0] == text:
                pairs.append((sent[index][1], seen_at))
                position = index + 1
                break
    return pairs


def run(directory: Path, utterances: int, speed: float, seed: int) -> None:
    # Three seconds of silence first: the meeting is started once the probes are in place.
    wav, planned = write_script_wav(directory, "[silence 3]\n" + meeting_script(utterances, seed))
    audio_s = planned[-1].end + 1.0
    broker = Mosquitto(directory).start()
    try:
        with EmulatorThread(key=KEY) as emulator:
            settings = settings_from_data({
                "room": "bench",
                "mqtt": {"host": broker.host, "port": broker.port, "discovery": False},
                "journal": {"path": str(directory / "journal.sqlite3")},
                "speech": {"host": emulator.host_url, "key": KEY},
                "audio": {"source": "file", "file": str(wav), "speed": speed, **TONE_SPEECH},
                "meeting": {"autostart": False},
            })
            rec = Recorder(broker, ["meeting/transcript", "meeting/transcript/partial"])
            stamps = Stamps()
            runner = DaemonThread(settings, session_factory=stamps.sessions(session_factory_for(settings))).start()
            try:
                stamps.wrap(runner.daemon.output)
                runner.daemon.on_command(Command("start", "bench"))  # the path of a parsed MQTT command
                print(f"meeting: {utterances} utterances, {audio_s:.0f} s of audio at speed {speed:g} "
                      f"({audio_s / speed:.0f} s)", flush=True)
                deadline = time.monotonic() + audio_s / speed + SETTLE_S + 20
                while len(rec.on("meeting/transcript")) < utterances and time.monotonic() < deadline:
                    time.sleep(0.2)
            finally:
                runner.stop()
            rec.close()
            phrases = emulator.record.phrases()
            hypotheses = [(m.body["Text"], m.sent_at) for m in emulator.record.sent("speech.hypothesis")]
    finally:
        broker.stop()

    arrived = rec.on("meeting/transcript")
    texts = [m.json()["text"] for m in arrived]
    if texts != [p.text for p in planned] or [p.text for p in phrases] != texts:
        print(f"WARNING: {len(texts)} transcripts for {len(planned)} planned utterances, "
              f"{len(phrases)} phrases sent; only matching pairs are counted", flush=True)
    total, sdk, owner, mqtt_side = [], [], [], []
    for phrase, seen, raised in zip(phrases, arrived, stamps.raised):
        payload = seen.json()
        if not payload["text"] == phrase.text == raised[0]:
            continue
        handed = stamps.transcripts[(payload["meeting_id"], payload["seq"])]
        total.append(seen.at - phrase.sent_at)
        sdk.append(raised[1] - phrase.sent_at)
        owner.append(handed - raised[1])
        mqtt_side.append(seen.at - handed)

    partial_seen = [(m.json()["text"], m.at) for m in rec.on("meeting/transcript/partial")]
    partial_total = [seen - sent for sent, seen in match_in_order(hypotheses, partial_seen)]
    partial_sdk = [raised - sent for sent, raised in match_in_order(hypotheses, stamps.raised_partials)]
    partial_owner = [handed - raised for raised, handed in match_in_order(stamps.raised_partials, stamps.partials)]
    partial_mqtt = [seen - handed for handed, seen in match_in_order(stamps.partials, partial_seen)]

    print(f"transcripts ({len(total)} of {utterances}): result sent -> subscriber")
    print(f"  total                          {summary(total)}")
    print(f"  SDK (to its callback)          {summary(sdk)}")
    print(f"  owner (callback -> link)       {summary(owner)}")
    print(f"  journal + link + broker        {summary(mqtt_side)}")
    print(f"partials ({len(partial_total)} of {len(hypotheses)} hypotheses sent; {len(partial_seen)} received)")
    print(f"  total                          {summary(partial_total)}")
    print(f"  SDK (to its callback)          {summary(partial_sdk)}")
    print(f"  owner (callback -> link)       {summary(partial_owner)}")
    print(f"  link + broker (QoS 0)          {summary(partial_mqtt)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--utterances", type=int, default=40, help="lines in the meeting (default 40)")
    parser.add_argument("--speed", type=float, default=2.0, help="file playback pace, at most 2 (default 2)")
    parser.add_argument("--seed", type=int, default=3, help="seed of the meeting's words and speakers")
    args = parser.parse_args()
    if not 0 < args.speed <= 2:
        parser.error("--speed must be above 0 and at most 2 (the Speech SDK's send rate)")
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="roomscribe-bench-latency-") as tmp:
        run(Path(tmp), args.utterances, args.speed, args.seed)


if __name__ == "__main__":
    main()
