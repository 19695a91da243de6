import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from roomscribe.core.backoff import GROWTH, Backoff


def test_first_delay_is_between_initial_and_three_times_initial():
    for seed in range(50):
        delay = Backoff(initial=2.0, cap=60.0, rng=random.Random(seed)).next_delay()
        assert 2.0 <= delay <= 2.0 * GROWTH


def test_delays_grow_to_the_cap_and_never_pass_it():
    backoff = Backoff(initial=1.0, cap=30.0, rng=random.Random(7))
    delays = [backoff.next_delay() for _ in range(60)]
    assert max(delays) == pytest.approx(30.0)  # the cap is reached...
    assert all(1.0 <= d <= 30.0 for d in delays)  # ...and never passed
    assert max(delays[:3]) < 30.0  # it is reached by growing, not at once
    assert len(set(delays)) > 10  # jittered, not a fixed ladder
    assert backoff.attempts == 60


def test_reset_starts_again_from_initial():
    backoff = Backoff(initial=1.0, cap=60.0, rng=random.Random(3))
    for _ in range(20):
        backoff.next_delay()
    backoff.reset()
    assert backoff.attempts == 0
    assert 1.0 <= backoff.next_delay() <= GROWTH


def test_same_seed_same_sequence_and_different_seeds_differ():
    def run(seed):
        backoff = Backoff(initial=0.5, cap=10.0, rng=random.Random(seed))
        return [backoff.next_delay() for _ in range(8)]

    assert run(11) == run(11)
    assert run(11) != run(12)


@pytest.mark.parametrize("initial, cap", [(0.0, 5.0), (-1.0, 5.0), (5.0, 4.0)])
def test_bad_bounds_are_rejected(initial, cap):
    with pytest.raises(ValueError):
        Backoff(initial=initial, cap=cap)


@given(
    initial=st.floats(0.01, 30.0),
    extra=st.floats(0.0, 600.0),
    seed=st.integers(0, 2**32),
    steps=st.integers(1, 40),
)
def test_every_delay_stays_within_initial_cap_and_growth(initial, extra, seed, steps):
    cap = initial + extra
    backoff = Backoff(initial=initial, cap=cap, rng=random.Random(seed))
    previous = initial
    for _ in range(steps):
        delay = backoff.next_delay()
        assert initial <= delay <= cap  # never a hot loop, never longer than the cap
        assert delay <= previous * GROWTH + 1e-9
        previous = delay
