"""bench_pause's harness on one short round: it must see what it claims to measure, for both approaches."""

from __future__ import annotations

import pytest

from tests.support.bench_modules import add_bench_to_path

add_bench_to_path()
import bench_pause  # noqa: E402
import common  # noqa: E402


def test_rounds_alternate_the_bridging_speaker_and_pause_around_the_secret():
    _, planned = common.traceable_meeting(bench_pause.rounds_script(3), default_gap=0.6)
    rounds = bench_pause.plan_rounds(planned)
    assert [r.speaker for r in rounds] == ["Bob", "Alice", "Bob"]
    for r, k in zip(rounds, range(0, len(planned), 5)):
        secret = planned[k + 2]
        assert secret.text.startswith("SECRET")
        assert r.pause_at < secret.start and secret.end < r.resume_at
        assert planned[k + 1].end < r.pause_at and r.resume_at < planned[k + 3].start


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_one_round_of_each_approach(tmp_path):
    pcm, planned = common.traceable_meeting(bench_pause.rounds_script(1), default_gap=0.6)
    wav = common.write_pcm_wav(tmp_path / "rounds.wav", pcm)
    rounds = bench_pause.plan_rounds(planned)
    with common.Broker() as broker:
        kept = bench_pause.run_rounds(bench_pause.Roomscribe, 0.0, wav, pcm, planned, rounds, broker, tmp_path)
        restarted = bench_pause.run_rounds(bench_pause.Restart, 0.0, wav, pcm, planned, rounds, broker, tmp_path)
    for run in (kept, restarted):
        (result,) = run.rounds
        assert result.latency is not None and 0 < result.latency < 2.0
        assert result.checked > 0
    # The session is kept: one connection, Bob keeps Guest-2. Restarting opens a second one and renames him.
    assert kept.connections == 1 and (kept.rounds[0].label_before, kept.rounds[0].label_after) == ("Guest-2", "Guest-2")
    assert restarted.connections == 2
    assert (restarted.rounds[0].label_before, restarted.rounds[0].label_after) == ("Guest-2", "Guest-1")
    # Neither approach lets audio captured while paused reach the service.
    assert kept.rounds[0].leaked == 0 and restarted.rounds[0].leaked == 0


def test_the_long_pause_lasts_as_asked_and_holds_the_secret():
    _, planned = common.traceable_meeting(bench_pause.long_pause_script(20.0))
    bob_before, secret, bob_after = planned[1], planned[2], planned[3]
    paused_at = bob_before.end + bench_pause.PAUSE_AFTER_SPEECH_S
    resumed_at = bob_after.start - bench_pause.RESUME_BEFORE_SPEECH_S
    assert resumed_at - paused_at == pytest.approx(20.0, abs=0.01)
    assert secret.text.startswith("SECRET") and paused_at < secret.start and secret.end < resumed_at
