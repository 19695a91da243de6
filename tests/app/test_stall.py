"""A speech service that stops answering, for real: the emulator SIGSTOPped (a network black hole), killed and
started again on the same port, or its connection turned into a black hole (a NAT that dropped the flow),
while two people talk. The daemon and the emulator run as processes, side by side in one test
(bench/stall_scenario.py); bench/bench_stall.py measures the same runs.

Every utterance said meanwhile is published once, in order, with its true times and marked late; the state
leaves `transcribing` within the bound and does not return to it before the service answers again; the
daemon's RSS comes back; an outage longer than the buffer loses exactly the span the loss event names.
"""

from __future__ import annotations

import pytest

from roomscribe.core.records import from_iso_utc
from tests.support.bench_modules import add_bench_to_path

add_bench_to_path()
from stall_scenario import Outcome, Scenario, run_all  # noqa: E402  (bench/, on the path just above)

STALL_BOUND_S = 10.0  # core/liveness.py
SLACK_S = 5.0  # the watch's tick, MQTT, a busy machine
# "Within a few MB": what stays after the outage is the SDK's (its reconnect attempts and the catch-up's
# buffers, and malloc's fragments of them), 2.6-5.3 MB measured whatever the outage's length, on a busy
# machine too. The outage buffer itself (10 MB after 5 minutes) must have gone back to the system.
RSS_SLACK_KIB = 8 * 1024
PEAK_SLACK_KIB = 10 * 1024  # beyond the audio kept: the SDK's buffers while it reconnects and catches up
BYTES_PER_SECOND = 32_000
# A killed service is retried with capped backoff; a short cap keeps the test short (the benchmark runs the default).
KILL = {"reconnect_max_delay": 10}


def by_time(out: Outcome):
    """(planned, published) pairs: each published utterance with the planned one it is the speech of."""
    published = [p for _, p in out.transcripts]
    pairs = []
    for p in published:
        start = from_iso_utc(p["start"]) - out.t0
        match = [u for u in out.planned if abs(u.start - start) < 0.05]
        pairs.append((match[0] if match else None, p))
    return pairs


def assert_every_utterance_once_in_order_with_true_times(out: Outcome, skip=lambda u: False) -> None:
    pairs = by_time(out)
    expected = [u for u in out.planned if not skip(u)]
    found = [u for u, _ in pairs if u is not None]
    assert found == expected, f"{out.name}: missing {[u.text for u in expected if u not in found]}"
    assert [p["seq"] for _, p in pairs] == list(range(1, len(pairs) + 1))
    for planned, published in pairs:
        assert published["text"] == planned.text, out.name
        assert abs(from_iso_utc(published["end"]) - (out.t0 + planned.end)) < 0.05, (out.name, published)
    # Speaker labels mean one person within an epoch.
    labels = {}
    for planned, published in pairs:
        assert labels.setdefault((published["speaker_epoch"], published["speaker"]), planned.speaker) == planned.speaker


def assert_late_marks(out: Outcome) -> None:
    for planned, published in by_time(out):
        if planned is None:
            continue  # the rest of a line a loss cut (the full buffer)
        said_at, ended_at = out.t0 + planned.start, out.t0 + planned.end
        if said_at >= out.outage_began and ended_at <= out.outage_ended:
            assert published["late"] and published["late_by_s"] > 0, (out.name, published)
        if ended_at < out.outage_began - 2.0:
            assert not published["late"] and published["late_by_s"] is None, (out.name, published)


def assert_seen_and_said(out: Outcome, reason: str) -> None:
    """Out of `transcribing` within the bound; back only after a session answered again, never while the
    service is away."""
    after = [(at, s) for at, s in out.states if at >= out.outage_began]
    left_at, left = next((at, s) for at, s in after if s["state"] != "transcribing")
    bound = STALL_BOUND_S if reason == "stalled" else 2.0
    assert left_at - out.outage_began <= bound + SLACK_S, (out.name, left_at - out.outage_began)
    assert (left["state"], left["reason"]) == ("recovering", reason), (out.name, left)
    back = next((at for at, s in after if at > left_at and s["state"] == "transcribing"), None)
    answered = [at for at, e in out.events if e["kind"] == "session_reestablished" and at > left_at]
    assert back is not None and answered and back >= answered[0] - 0.5, out.name
    if reason == "stalled" and out.name.startswith("mute"):
        return  # the black hole is never undone: a new connection is how the service answers again
    assert back >= out.outage_ended, (out.name, back - out.outage_ended)
    values = [v for at, v in out.speech_connection if out.outage_began <= at <= out.outage_ended]
    assert ("stalled" if reason == "stalled" else "disconnected") in values and "connected" not in values, values


def assert_rss_flat(out: Outcome, seconds: float) -> None:
    before, after = out.rss_at(out.outage_began), out.rss[-1][1]
    peak = max(kib for _, kib in out.rss)
    assert after - before <= RSS_SLACK_KIB, (out.name, before, peak, after)
    assert peak - before <= seconds * BYTES_PER_SECOND / 1024 + PEAK_SLACK_KIB, (out.name, before, peak, after)


def assert_outage_handled(out: Outcome | BaseException, seconds: float, reason: str) -> None:
    if isinstance(out, BaseException):
        raise out
    assert out.daemon_exit == 0, out.log[-3000:]
    assert_every_utterance_once_in_order_with_true_times(out)
    assert_late_marks(out)
    assert_seen_and_said(out, reason)
    assert out.events_of("speech_stalled" if reason == "stalled" else "session_lost")
    assert out.events_of("speech_caught_up")
    assert not out.events_of("audio_lost"), out.events_of("audio_lost")
    assert_rss_flat(out, seconds)


@pytest.mark.contention
@pytest.mark.slow
@pytest.mark.timeout(400)
def test_a_30_s_stall_and_a_30_s_outage_during_speech_lose_nothing(tmp_path, mosquitto):
    stall, kill = run_all([
        Scenario("stall30", "stall", 30, mosquitto.port, workdir=tmp_path),
        Scenario("kill30", "kill", 30, mosquitto.port, workdir=tmp_path, speech=KILL),
    ])
    assert_outage_handled(stall, 30, "stalled")
    assert_outage_handled(kill, 30, "lost")
    assert stall.events_of("speech_stalled")[0]["detail"]["unanswered_s"] < STALL_BOUND_S + 1
    # The stalled session came back: the same speaker labels, nothing sent twice.
    assert {p["speaker_epoch"] for _, p in stall.transcripts} == {1}


@pytest.mark.slow
@pytest.mark.long
@pytest.mark.timeout(900)
def test_stalls_and_outages_of_90_s_and_5_minutes_a_dropped_flow_and_a_full_buffer(tmp_path, mosquitto):
    runs = run_all([
        Scenario("stall90", "stall", 90, mosquitto.port, workdir=tmp_path),
        Scenario("stall300", "stall", 300, mosquitto.port, workdir=tmp_path),
        Scenario("kill90", "kill", 90, mosquitto.port, workdir=tmp_path, speech=KILL),
        Scenario("kill300", "kill", 300, mosquitto.port, workdir=tmp_path, speech=KILL),
        Scenario("mute90", "mute", 90, mosquitto.port, workdir=tmp_path),
        Scenario("full150", "stall", 150, mosquitto.port, workdir=tmp_path, speech={"outage_buffer_minutes": 1.5}),
    ])
    stall90, stall300, kill90, kill300, mute90, full150 = runs
    for out, seconds, reason in ((stall90, 90, "stalled"), (stall300, 300, "stalled"), (kill90, 90, "lost"),
                                 (kill300, 300, "lost")):
        assert_outage_handled(out, seconds, reason)
    # A flow dropped for good: the stalled session is given up and a new one is sent what waited.
    if isinstance(mute90, BaseException):
        raise mute90
    assert_every_utterance_once_in_order_with_true_times(mute90)
    assert_seen_and_said(mute90, "stalled")
    assert mute90.events_of("speaker_epoch_changed") and not mute90.events_of("audio_lost")
    # Longer than the buffer: the oldest audio went, and the events name exactly what.
    if isinstance(full150, BaseException):
        raise full150
    lost = full150.events_of("audio_lost")
    assert lost and all(e["detail"]["reason"] == "buffer_full" for e in lost)
    spans = [(e["detail"]["start"] - full150.t0, e["detail"]["end"] - full150.t0) for e in lost]
    inside = [u for u in full150.planned if any(a - 0.05 <= u.start and u.end <= b + 0.05 for a, b in spans)]
    touched = [u for u in full150.planned if any(u.start < b and a < u.end for a, b in spans)]
    assert len(inside) >= 10  # 150 s of talk in a 90 s buffer
    pairs = by_time(full150)
    published = [u for u, _ in pairs]
    assert not set(inside) & set(published)  # nothing the events call lost was transcribed
    kept = [u for u in full150.planned if u not in touched]
    assert [u for u in published if u in kept] == kept  # and everything else was, once, in order
    for planned, p in pairs:  # what matches no planned line is what is left of a line the loss cut
        start, end = from_iso_utc(p["start"]) - full150.t0, from_iso_utc(p["end"]) - full150.t0
        assert planned is not None or any(u.start < end and start < u.end for u in touched), (p, spans)
    lost_seconds = sum(e["detail"]["seconds"] for e in lost)
    assert lost_seconds == pytest.approx(sum(b - a for a, b in spans), abs=0.5)  # no silence was skipped
    assert_late_marks(full150)
