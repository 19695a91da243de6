import pytest
from hypothesis import given
from hypothesis import strategies as st

from roomscribe.core.audio_format import CHUNK_BYTES, CHUNK_MS, SAMPLE_RATE, AudioChunk, bytes_to_ticks
from roomscribe.core.gate import AudioGate, Write
from roomscribe.core.timeline import MERGE_TOLERANCE_S, Timeline

T0 = 1_700_000_000.0
CHUNK_S = CHUNK_MS / 1000
TICKS_PER_SAMPLE = 10_000_000 // SAMPLE_RATE
CHUNK_TICKS = bytes_to_ticks(CHUNK_BYTES)
SILENCE = bytes(CHUNK_BYTES)


def live(at: float, size: int = CHUNK_BYTES) -> Write:
    return Write(bytes(size), at, live=True)


def test_live_audio_maps_every_sample_exactly():
    timeline = Timeline()
    for i in range(round(10 / CHUNK_S)):  # 10 s of chunks
        timeline.append(live(T0 + i * CHUNK_S))
    assert timeline.segment_count == 1
    assert timeline.written_bytes == 320_000
    for sample in (0, 1, 319, 320, 12_345, 159_999):
        assert timeline.wall_at_ticks(sample * TICKS_PER_SAMPLE) == pytest.approx(T0 + sample / SAMPLE_RATE, abs=1e-6)
    # Between samples (the SDK's ticks are finer than samples) time runs on linearly.
    between = timeline.wall_at_ticks(12_345 * TICKS_PER_SAMPLE + 300)
    assert between == pytest.approx(T0 + 12_345 / SAMPLE_RATE + 3e-5, abs=1e-6)


def test_a_pause_is_a_gap_in_wall_time_but_not_in_the_stream():
    """Real gate, real timeline: 2 s live, pause (tail), 60 s withheld, 1 s live after the resume."""
    gate, timeline = AudioGate(tail_ms=800), Timeline()
    n_live, n_tail, n_withheld, n_after = round(2 / CHUNK_S), 800 // CHUNK_MS, round(60 / CHUNK_S), round(1 / CHUNK_S)
    resumed = n_live + n_withheld
    captured = [AudioChunk(bytes(CHUNK_BYTES), T0 + i * CHUNK_S) for i in range(resumed + n_after)]
    gate.open()
    for c in captured[:n_live]:
        for w in gate.process(c):
            timeline.append(w)
    for w in gate.close(tail=True, at_once=True):
        timeline.append(w)
    for c in captured[n_live:resumed]:
        assert gate.process(c) == []
    gate.open()
    for c in captured[resumed:]:
        for w in gate.process(c):
            timeline.append(w)

    live_before, tail, live_after = n_live * CHUNK_TICKS, n_tail * CHUNK_TICKS, n_after * CHUNK_TICKS
    assert timeline.written_bytes == (n_live + n_tail + n_after) * CHUNK_BYTES  # the 60 s withheld are not in the stream
    assert timeline.segment_count == 2  # live + tail continue each other; the resume starts a segment
    # The tail continues the time of the audio before the pause...
    assert timeline.wall_at_ticks(live_before) == pytest.approx(T0 + 2.0, abs=1e-6)
    last_tail_sample = timeline.wall_at_ticks(live_before + tail - TICKS_PER_SAMPLE)
    assert last_tail_sample == pytest.approx(T0 + 2.8 - 1 / SAMPLE_RATE, abs=1e-6)
    # ...and the first sample after it is the first sample captured after the resume.
    resume_at = captured[resumed].captured_at
    assert timeline.wall_at_ticks(live_before + tail) == pytest.approx(resume_at, abs=1e-6)
    assert timeline.wall_at_ticks(live_before + tail + live_after // 2) == pytest.approx(resume_at + 0.5, abs=1e-6)
    # A phrase closed by the tail ends before the pause's gap, not after it.
    start, end = timeline.wall_span(live_before - 10_000_000, 10_000_000 + tail)
    assert (start, end) == pytest.approx((T0 + 1.0, T0 + 2.8), abs=1e-6)
    # A phrase after the resume is placed at its capture time.
    start, end = timeline.wall_span(live_before + tail, live_after)
    assert (start, end) == pytest.approx((resume_at, resume_at + 1.0), abs=1e-6)


def test_beyond_the_end_time_runs_on_from_the_last_write():
    timeline = Timeline()
    timeline.append(live(T0))
    timeline.append(live(T0 + 100.0))
    assert timeline.wall_at_ticks(CHUNK_TICKS + 10_000_000) == pytest.approx(T0 + 101.0, abs=1e-6)
    assert timeline.wall_span(CHUNK_TICKS, 30_000_000) == pytest.approx((T0 + 100.0, T0 + 103.0), abs=1e-6)


def test_a_span_is_never_inverted_and_zero_length_spans_are_instants():
    timeline = Timeline()
    timeline.append(live(T0))
    assert timeline.wall_span(CHUNK_TICKS // 2, 0) == pytest.approx((T0 + 0.01, T0 + 0.01))
    start, end = timeline.wall_span(CHUNK_TICKS // 2, -5)
    assert start == end


def test_hours_of_audio_with_pauses_keep_few_segments():
    """Three hours of chunks with a pause every 30 minutes: one segment per resume."""
    timeline = Timeline()
    chunks_per_half_hour = 30 * 60 * 1000 // CHUNK_MS
    for half_hour in range(6):
        # Stamped from the sample count, as the capture sources do; a ten-minute pause between halves.
        resumed_at = T0 + half_hour * (1800.0 + 600.0)
        for i in range(chunks_per_half_hour):
            timeline.append(Write(SILENCE, resumed_at + i * CHUNK_S, True))
    assert timeline.segment_count == 6
    assert timeline.written_bytes == 6 * chunks_per_half_hour * CHUNK_BYTES
    # The last sample of the meeting, after 3 h of stream and 50 min of pauses, is still exact.
    last_sample = timeline.written_bytes // 2 - 1
    expected = T0 + 5 * 600.0 + last_sample / SAMPLE_RATE
    assert timeline.wall_at_ticks(last_sample * TICKS_PER_SAMPLE) == pytest.approx(expected, abs=1e-5)


def test_jitter_within_the_tolerance_merges_and_beyond_it_splits():
    timeline = Timeline()
    timeline.append(live(T0))
    timeline.append(live(T0 + CHUNK_S + MERGE_TOLERANCE_S / 2))
    assert timeline.segment_count == 1
    timeline.append(live(T0 + 3 * CHUNK_S + MERGE_TOLERANCE_S * 2))
    assert timeline.segment_count == 2
    assert timeline.wall_at_ticks(2 * CHUNK_TICKS) == pytest.approx(T0 + 3 * CHUNK_S + MERGE_TOLERANCE_S * 2)


def test_an_empty_timeline_has_no_times_and_odd_writes_are_refused():
    timeline = Timeline()
    with pytest.raises(LookupError):
        timeline.wall_at_ticks(0)
    with pytest.raises(ValueError):
        timeline.append(Write(b"\x00" * 3, T0, True))
    timeline.append(Write(b"", T0, True))
    assert timeline.written_bytes == 0 and timeline.segment_count == 0


writes = st.lists(
    st.tuples(
        st.integers(1, 2000),  # samples in the write
        st.one_of(st.just(0.0), st.floats(0.01, 3600.0), st.floats(-3600.0, -0.01)),  # jump before it
    ),
    min_size=1,
    max_size=40,
)


@given(plan=writes, data=st.data())
def test_every_sample_maps_to_the_time_its_write_gave_it(plan, data):
    timeline, placed, wall, offset = Timeline(), [], T0, 0
    for samples, jump in plan:
        wall += jump
        timeline.append(Write(bytes(samples * 2), wall, live=True))
        placed.append((offset, samples, wall))
        offset += samples
        wall += samples / SAMPLE_RATE
    for first, samples, at in placed:
        i = data.draw(st.integers(0, samples - 1))
        got = timeline.wall_at_ticks((first + i) * TICKS_PER_SAMPLE)
        assert got == pytest.approx(at + i / SAMPLE_RATE, abs=1e-6)
    assert timeline.segment_count == 1 + sum(1 for _, jump in plan[1:] if jump != 0.0)


# -- capture times on the monotonic clock: a step of the wall clock ----------------------------------

MONO0 = 5000.0
DAY = 86400.0


def stamped(index: int, offset: float) -> AudioChunk:
    """The index-th chunk of a stream, stamped as the sources do: monotonic time and the wall clock's then."""
    mono = MONO0 + index * CHUNK_S
    return AudioChunk(bytes(CHUNK_BYTES), mono + offset, mono)


def test_a_step_of_the_wall_clock_mid_phrase_is_followed_by_every_time_published_after_it():
    """300 chunks (3 s); the wall clock steps by +2 days after the first 120. A phrase over chunks 100-200 is
    published after the step: its start and end are both on the new clock, 1 s apart, as the service heard."""
    gate, timeline = AudioGate(tail_ms=0), Timeline()
    gate.open()
    old, new = T0 - MONO0 - 2 * DAY, T0 - MONO0
    for i in range(300):
        for write in gate.process(stamped(i, old if i < 120 else new)):
            timeline.append(write)
    assert timeline.segment_count == 1  # the monotonic times run on: the step leaves no seam
    start, end = timeline.wall_span(100 * CHUNK_TICKS, 100 * CHUNK_TICKS, wall_offset=new)
    assert (start, end) == pytest.approx((T0 + 1.0, T0 + 2.0), abs=1e-6)
    # Published before the step was announced, the same phrase is on the old clock, still 1 s long.
    start, end = timeline.wall_span(100 * CHUNK_TICKS, 100 * CHUNK_TICKS, wall_offset=old)
    assert (start, end) == pytest.approx((T0 + 1.0 - 2 * DAY, T0 + 2.0 - 2 * DAY), abs=1e-6)


def test_a_pause_tail_and_the_resume_keep_their_monotonic_times():
    gate, timeline = AudioGate(tail_ms=200), Timeline()
    gate.open()
    offset = T0 - MONO0
    for i in range(100):
        for write in gate.process(stamped(i, offset)):
            timeline.append(write)
    for write in gate.close(tail=True, at_once=True):
        assert write.monotonic is not None
        timeline.append(write)
    gate.open()
    for i in range(500, 600):
        for write in gate.process(stamped(i, offset - DAY)):  # the clock stepped back during the pause
            timeline.append(write)
    assert timeline.segment_count == 2  # the tail continues the audio before it; the resume starts a segment
    resumed = 100 * CHUNK_TICKS + 20 * CHUNK_TICKS
    assert timeline.wall_at_ticks(resumed - TICKS_PER_SAMPLE, wall_offset=offset) == pytest.approx(
        T0 + 1.2 - 1 / SAMPLE_RATE, abs=1e-6)
    assert timeline.wall_at_ticks(resumed, wall_offset=offset) == pytest.approx(T0 + 5.0, abs=1e-6)


def test_monotonic_times_need_the_offset_and_wall_only_writes_stay_as_they_are():
    timeline = Timeline()
    timeline.append(live(T0))  # a source that does not know the monotonic time
    timeline.append(Write(SILENCE, T0 + CHUNK_S, live=True, monotonic=MONO0))
    assert timeline.segment_count == 2  # times on two clocks never merge
    assert timeline.wall_at_ticks(0, wall_offset=DAY) == T0  # a wall-clock time is taken as it is
    assert timeline.wall_at_ticks(CHUNK_TICKS, wall_offset=T0 - MONO0 + CHUNK_S) == pytest.approx(T0 + CHUNK_S)
    with pytest.raises(ValueError, match="offset"):
        timeline.wall_at_ticks(CHUNK_TICKS)
