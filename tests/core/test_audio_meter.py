from datetime import date

import pytest

from roomscribe.core.audio_meter import AudioMeter

SECOND = 32000
DAY1, DAY2 = date(2026, 11, 28), date(2026, 11, 29)


def test_meeting_and_day_totals_count_what_was_sent():
    meter = AudioMeter(DAY1, sent_bytes=5 * SECOND)  # sent before the meter started: not counted
    meter.update(6 * SECOND, DAY1)
    meter.meeting_started()
    totals = meter.update(16 * SECOND, DAY1)
    assert (totals.today_s, totals.meeting_s) == (11.0, 10.0)
    assert meter.meeting_ended() == pytest.approx(10.0)
    assert meter.totals.meeting_s is None


def test_a_new_day_starts_from_zero_and_a_meeting_spans_midnight():
    meter = AudioMeter(DAY1)
    meter.meeting_started()
    meter.update(3 * SECOND, DAY1)
    totals = meter.update(5 * SECOND, DAY2)
    assert (totals.day, totals.today_s, totals.meeting_s) == (DAY2, 2.0, 5.0)
