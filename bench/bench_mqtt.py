"""MQTT benchmarks that need no daemon: the journal's backlog after an outage, and the publish latency of
journal + link.

    python bench/bench_mqtt.py [--utterances 5000] [--latency-samples 300] [--before /tmp/rs-main [--rounds 2]]

1. Outage: the broker is down while N utterances are handed to the journal as fast as they come (stored
   durably, synchronous=FULL, in batches); then the broker comes up and the link delivers the backlog.
   Printed: store rate, drain rate (from the reconnect to the last utterance at a subscriber), and, as a
   baseline measured in the same run, a bare paho client publishing the same payloads at QoS 1 with the
   same in-flight window.
2. Latency added: an utterance handed to the journal (commit, then the link reads it and publishes) to
   arrival at a subscriber on loopback, p50/p99, next to a bare paho QoS 1 publish measured the same way;
   and a command published on `meeting/pause` to the moment the link hands it to the owner's handler
   (through paho's thread, the link's worker and its routing table), the other way round.
With `--before`, a checkout of an earlier roomscribe (`git archive <commit> | tar -x -C /tmp/rs-main`): this
script runs once per version and round, as a process whose `roomscribe` is that version's package, alternating,
so both are measured by the same code side by side on the same machine at the same time.
The broker queues without limit for the subscriber (`max_queued_messages 0`): Mosquitto's default of 1000 drops
messages for a subscriber that falls behind a drain, which is the broker's doing, not the link's.
Figures, not assertions: the machines are shared, compare the ratios.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import paho.mqtt.client as mqtt  # noqa: E402

from roomscribe.config import Settings, settings_from_data  # noqa: E402
from roomscribe.core.records import encode  # noqa: E402
from roomscribe.outputs.journal.journal import Journal  # noqa: E402
from roomscribe.outputs.mqtt.connection import set_nodelay  # noqa: E402
from roomscribe.outputs.mqtt.link import MqttLink  # noqa: E402

try:
    from roomscribe.outputs.mqtt.connection import MAX_INFLIGHT  # noqa: E402
except ImportError:  # a version before the link was composed (measured with --before)
    from roomscribe.outputs.mqtt.link import MAX_INFLIGHT  # noqa: E402
from tests.support.mosquitto import Mosquitto, Recorder  # noqa: E402
from tests.support.mqtt_link_process import utterance  # noqa: E402


UNQUEUED = ("max_queued_messages 0",)


def settings_for(broker: Mosquitto, directory: Path, name: str) -> Settings:
    return settings_from_data({
        "room": "bench",
        "mqtt": {"host": broker.host, "port": broker.port, "reconnect_max_delay": 1, "discovery": False},
        "journal": {"path": str(directory / f"{name}.sqlite3")},
    })


def wired(settings: Settings, connected: threading.Event, on_command=lambda c: None) -> tuple[Journal, MqttLink]:
    """The journal and the link as the composition root wires them."""
    journal = Journal.from_settings(settings).start()
    link = MqttLink(settings, on_command=on_command, transcripts=journal.deliveries,
                    on_connection_change=lambda up: connected.set() if up else None)
    journal.writer.on_stored = link.wake
    return journal, link


def wait(predicate, timeout: float = 300.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError
        time.sleep(0.001)


def bench_outage(directory: Path, n: int) -> None:
    broker = Mosquitto(directory, extra_config=UNQUEUED)  # configured; down for now
    settings = settings_for(broker, directory, "outage")
    connected = threading.Event()
    journal, link = wired(settings, connected)
    link.start()
    t0 = time.perf_counter()
    stored = [journal.writer.utterance(utterance("m-bench", seq, "bench", time.time())) for seq in range(1, n + 1)]
    for future in stored:
        future.result(300)
    store_s = time.perf_counter() - t0
    payloads = [p.payload for p in journal.deliveries.pending(limit=n)]
    print(f"outage: stored {n} utterances in {store_s:.2f} s = {n / store_s:,.0f}/s "
          f"(durable, in {journal.file.commits} commits)")

    broker.start()
    try:
        rec = Recorder(broker, "meeting/transcript", client_id="bench-sub", persistent_session=False)
        connected.wait(30)
        t0 = time.perf_counter()
        wait(lambda: len(rec.messages) >= n)
        drain_s = time.perf_counter() - t0
        wait(lambda: len(journal.deliveries) == 0)
        empty_s = time.perf_counter() - t0
        order_ok = [m.payload for m in rec.messages[:n]] == payloads
        print(f"outage: drained {n} in {drain_s:.2f} s = {n / drain_s:,.0f}/s at the subscriber "
              f"(all acknowledged after {empty_s:.2f} s; order {'kept' if order_ok else 'BROKEN'})")
        rec.messages.clear()

        baseline = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="bench-baseline")
        baseline.max_inflight_messages_set(MAX_INFLIGHT)
        baseline.connect(broker.host, broker.port)
        baseline.loop_start()
        t0 = time.perf_counter()
        infos = [baseline.publish("meeting/transcript", p, qos=1) for p in payloads]
        for info in infos:
            info.wait_for_publish(60)
        wait(lambda: len(rec.messages) >= n)
        base_s = time.perf_counter() - t0
        print(f"outage: baseline, bare paho QoS 1 ({MAX_INFLIGHT} in flight): {n / base_s:,.0f}/s; "
              f"drain/baseline = {base_s / drain_s:.2f}")
        baseline.disconnect()
        baseline.loop_stop()
        rec.close()
    finally:
        link.stop()
        journal.close()
        broker.stop()


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1] if len(values) > 1 else values[0]


def bench_latency(directory: Path, samples: int) -> None:
    broker = Mosquitto(directory, extra_config=UNQUEUED).start()
    settings = settings_for(broker, directory, "latency")
    connected = threading.Event()
    arrived: dict[str, float] = {}  # request_id -> when the owner's handler had the command
    journal, link = wired(settings, connected, on_command=lambda c: arrived.setdefault(c.request_id, time.time()))
    rec = Recorder(broker, "meeting/transcript")
    try:
        link.start()
        connected.wait(30)
        link_ms = []
        for seq in range(1, samples + 1):
            before = len(rec.messages)
            t0 = time.time()
            journal.writer.utterance(utterance("m-lat", seq, "bench", t0))
            wait(lambda: len(rec.messages) > before, 30)
            link_ms.append((rec.messages[-1].at - t0) * 1000)
        bare = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="bench-bare")
        bare.on_socket_open = lambda c, u, sock: set_nodelay(sock)  # as the link does
        bare.connect(broker.host, broker.port)
        bare.loop_start()
        bare_ms = []
        payload = encode(utterance("m-lat", 1, "bench", time.time()).to_payload())
        for _ in range(samples):
            before = len(rec.messages)
            t0 = time.time()
            bare.publish("meeting/transcript", payload, qos=1)
            wait(lambda: len(rec.messages) > before, 30)
            bare_ms.append((rec.messages[-1].at - t0) * 1000)
        command_ms = []
        for n in range(samples):
            request_id = f"bench-{n}"
            t0 = time.time()
            bare.publish("meeting/pause", json.dumps({"request_id": request_id}), qos=1)
            wait(lambda: request_id in arrived, 30)
            command_ms.append((arrived[request_id] - t0) * 1000)
        bare.disconnect()
        bare.loop_stop()
        for name, values in (("journal + link", link_ms), ("bare paho publish", bare_ms),
                             ("command -> owner handler", command_ms)):
            print(f"latency: {name:24s} p50 {percentile(values, 50):6.2f} ms   p99 {percentile(values, 99):6.2f} ms"
                  f"   ({len(values)} samples)")
        print(f"latency: added by the link at p50: {percentile(link_ms, 50) - percentile(bare_ms, 50):.2f} ms")
    finally:
        rec.close()
        link.stop()
        journal.close()
        broker.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--utterances", type=int, default=5000)
    parser.add_argument("--latency-samples", type=int, default=300)
    parser.add_argument("--before", type=Path, help="a checkout of an earlier roomscribe to measure alongside")
    parser.add_argument("--rounds", type=int, default=1, help="with --before: rounds of both versions")
    args = parser.parse_args()
    if args.before is not None:
        side_by_side(args)
        return
    logging.basicConfig(level=logging.ERROR)  # the link's connection warnings are expected here
    import roomscribe

    print(f"roomscribe from {Path(roomscribe.__file__).parents[1]}")
    with tempfile.TemporaryDirectory(prefix="roomscribe-bench-") as tmp:
        bench_outage(Path(tmp), args.utterances)
        bench_latency(Path(tmp), args.latency_samples)


def side_by_side(args: argparse.Namespace) -> None:
    """This script once per version and round, as a process importing that version's package, alternating."""
    versions = {"before": args.before.resolve(), "after": Path(__file__).resolve().parents[1]}
    for round_no in range(1, args.rounds + 1):
        for name, root in versions.items():
            env = {**os.environ, "PYTHONPATH": str(root / "daemon")}
            done = subprocess.run([sys.executable, __file__, "--utterances", str(args.utterances),
                                   "--latency-samples", str(args.latency_samples)],
                                  env=env, capture_output=True, text=True, check=False)
            for line in (done.stdout + (done.stderr if done.returncode else "")).splitlines():
                print(f"round {round_no} {name:6s} {line}", flush=True)

if __name__ == "__main__":
    main()
