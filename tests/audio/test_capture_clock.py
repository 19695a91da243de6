"""Capture times from PortAudio deliveries: the delivery schedules here are the ones real streams show
(a steady 20 ms pace, bursts after a busy moment, lost samples), replayed on a synthetic clock."""

from __future__ import annotations

import numpy as np
import pytest

from roomscribe.audio.microphone import CaptureClock

FRAMES = 320  # 20 ms at 16 kHz
T0 = 1000.0


def stamps(deliveries, dropped_at=()):
    clock = CaptureClock(16_000)
    return np.array([clock.stamp(now, FRAMES, dropped=i in dropped_at) for i, now in enumerate(deliveries)])


def test_a_steady_stream_is_stamped_20ms_apart_from_the_earliest_delivery():
    latency = np.random.default_rng(1).uniform(0.0, 0.015, 200)  # jitter: never early, sometimes late
    true_start = np.arange(200) * 0.02 + T0
    delivered = true_start + 0.02 + latency
    times = stamps(delivered)
    assert np.all(np.diff(times) > 0)
    assert np.all(times <= delivered - 0.02 + 1e-9)
    # After the first few deliveries the estimate sits within the least latency seen.
    assert times[50:] - true_start[50:] == pytest.approx(np.zeros(150), abs=0.002)
    assert np.all(times >= true_start - 1e-9)


def test_a_burst_after_a_blocked_moment_keeps_the_times_of_the_samples():
    """A consumer that blocked for 1 s gets the buffered chunks at once; they were captured earlier."""
    true_start = np.arange(300) * 0.02 + T0
    delivered = true_start + 0.02
    delivered[100:150] = delivered[150]  # 50 chunks held back, then handed over together
    times = stamps(delivered)
    assert times - true_start == pytest.approx(np.zeros(300), abs=1e-9)


def test_samples_lost_without_an_overflow_flag_move_the_times_after_a_lasting_lag():
    """A device that stalls for 0.5 s and then goes on: the stall is missing audio, not late audio."""
    true_start = np.concatenate([np.arange(100) * 0.02, 2.5 + np.arange(200) * 0.02]) + T0
    times = stamps(true_start + 0.02)
    assert np.all(np.diff(times) > 0)
    # Stamped as the continuation at first; moved once the lag has lasted a second (50 chunks) ...
    assert times[100] == pytest.approx(T0 + 2.0)
    assert times[160:] - true_start[160:] == pytest.approx(np.zeros(140), abs=1e-6)


def test_an_overflow_re_anchors_at_once():
    true_start = np.concatenate([np.arange(100) * 0.02, 2.5 + np.arange(100) * 0.02]) + T0
    times = stamps(true_start + 0.02, dropped_at={100})
    assert times[100:] - true_start[100:] == pytest.approx(np.zeros(100), abs=1e-6)


def test_a_late_first_delivery_is_corrected_by_the_next_ones_without_going_back():
    true_start = np.arange(100) * 0.02 + T0
    delivered = true_start + 0.02
    delivered[0] += 0.15  # the first callback ran late; the following ones come at once to catch up
    delivered[1:8] = delivered[0] + np.arange(1, 8) * 1e-4
    times = stamps(delivered)
    assert times[0] == pytest.approx(T0 + 0.15)
    assert np.all(np.diff(times) > 0)
    assert np.all(times <= delivered - 0.02 + 1e-9)  # never stamped after it was delivered
    assert times[8:] - true_start[8:] == pytest.approx(np.zeros(92), abs=1e-6)
