"""The stall watch: unanswered speech past the bound is a stall; silence and a lone noise are not."""

from roomscribe.core.liveness import ServiceWatch


def speak(watch: ServiceWatch, start: float, seconds: float, step: float = 0.1) -> float:
    """Speech sent in real time from `start`; returns the time after it."""
    now = start
    while now < start + seconds - 1e-9:
        watch.sent(now, step, True)
        now += step
    return now


def test_speech_unanswered_for_the_bound_is_a_stall_and_any_answer_clears_it():
    watch = ServiceWatch(bound_s=10.0)
    speak(watch, 0.0, 12.0)
    assert not watch.stalled(9.9)
    assert watch.stalled(10.0) and watch.unanswered_s(10.0) == 10.0
    watch.answered(12.0)
    assert not watch.stalled(30.0) and watch.unanswered_s(30.0) == 0.0


def test_silence_is_never_timed():
    watch = ServiceWatch()
    for i in range(1000):
        watch.sent(i * 0.1, 0.1, False)
    assert not watch.stalled(500.0)


def test_a_short_noise_left_unanswered_is_forgotten_after_a_quiet_spell():
    watch = ServiceWatch(bound_s=10.0, min_speech_s=2.0, forget_after_s=5.0)
    speak(watch, 0.0, 1.0)  # a cough the service says nothing about
    assert not watch.stalled(20.0)  # too little speech to judge
    speak(watch, 60.0, 3.0)  # real speech a minute later is timed from its own start
    assert not watch.stalled(69.9)
    assert watch.stalled(70.0)


def test_a_new_connection_restarts_the_clock_without_forgiving_the_speech():
    watch = ServiceWatch(bound_s=10.0)
    speak(watch, 0.0, 5.0)
    watch.connected(8.0)
    assert not watch.stalled(17.9)
    assert watch.stalled(18.0)
