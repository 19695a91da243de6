"""The two clocks (core/clock.py): steps of the wall clock found and sized, durations on the monotonic clock."""

from __future__ import annotations

import pytest

from roomscribe.core.clock import STEP_THRESHOLD_S, MeetingDurations, WallClock, read_offset
from tests.support.clocks import ManualClock

DAY = 86400.0


class PreemptedClock(ManualClock):
    """The thread is preempted between reads of the first attempt: the monotonic clock moves 50 ms."""

    def __init__(self):
        super().__init__()
        self.reads = 0

    def monotonic(self) -> float:
        self.reads += 1
        if self.reads == 2:
            self.advance(0.05)
        return super().monotonic()


def test_the_offset_is_wall_minus_monotonic_from_the_tightest_read():
    clock = ManualClock(wall=1_700_000_000.0, monotonic=1000.0)
    assert read_offset(clock) == 1_700_000_000.0 - 1000.0
    preempted = PreemptedClock()
    offset = read_offset(preempted)
    assert preempted.reads == 4  # the first read was 50 ms wide: read again
    assert offset == preempted.wall() - preempted.monotonic()


def test_a_step_is_found_with_its_size_and_time_on_the_new_clock():
    clock = ManualClock()
    watch = WallClock(clock)
    clock.advance(5.0)
    assert watch.check() is None and watch.now() == clock.wall()
    clock.step(-3 * DAY)  # as if the daemon started now, three days back ...
    clock.step(3 * DAY + 7.5)  # ... and NTP set it right: one step of +7.5 s between two checks
    step = watch.check()
    assert step.step_s == pytest.approx(7.5) and step.at == pytest.approx(clock.wall())
    assert watch.now() == pytest.approx(clock.wall())
    clock.step(-2 * DAY)
    assert watch.check().step_s == pytest.approx(-2 * DAY)


def test_the_owner_clock_keeps_the_old_offset_until_it_checks():
    """Everything stamped before the step is announced is on the old clock: one frame per record."""
    clock = ManualClock()
    watch = WallClock(clock)
    before = watch.now()
    clock.step(DAY)
    clock.advance(0.4)
    assert watch.now() == pytest.approx(before + 0.4)  # not yet the new clock
    assert watch.check().step_s == pytest.approx(DAY)
    assert watch.now() == pytest.approx(before + 0.4 + DAY)


def test_changes_below_the_threshold_are_taken_over_silently():
    clock = ManualClock()
    watch = WallClock(clock)
    clock.step(STEP_THRESHOLD_S / 2)
    assert watch.check() is None
    assert watch.now() == pytest.approx(clock.wall())  # taken over, not announced
    clock.step(STEP_THRESHOLD_S * 1.5)
    assert watch.check().step_s == pytest.approx(STEP_THRESHOLD_S * 1.5)


def test_a_meeting_lasts_what_the_monotonic_clock_says_whatever_the_wall_clock_does():
    clock = ManualClock()
    durations = MeetingDurations(clock.monotonic)
    assert durations.ended() is None  # no meeting
    durations.started()
    clock.advance(30.0)
    clock.step(3 * DAY)
    durations.paused(True)
    clock.advance(20.0)
    clock.step(-DAY)
    durations.paused(True)  # a repeated state changes nothing
    clock.advance(5.0)
    durations.paused(False)
    clock.advance(10.0)
    durations.paused(True)
    clock.advance(4.0)  # ended while paused: the pause counts up to the end
    assert durations.ended() == (pytest.approx(69.0), pytest.approx(29.0))
    assert not durations.running
    durations.paused(True)  # between meetings nothing counts
    durations.started()
    clock.advance(1.0)
    assert durations.ended() == (pytest.approx(1.0), 0.0)
