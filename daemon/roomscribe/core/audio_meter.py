"""What the service was sent, in seconds: per meeting and per local day. This is what Azure bills.

The owner reads the audio path's running byte count now and then and hands the meter the count and the
local date; the meter keeps the totals. Pure: no clock, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from roomscribe.core.audio_format import bytes_to_seconds


@dataclass(frozen=True, slots=True)
class AudioTotals:
    day: date
    today_s: float  # sent since local midnight
    meeting_s: float | None  # sent in the meeting in progress (None without a meeting)


class AudioMeter:
    def __init__(self, today: date, sent_bytes: int = 0):
        self._day = today
        self._last = sent_bytes
        self._today = 0
        self._meeting: int | None = None

    def update(self, sent_bytes: int, today: date) -> AudioTotals:
        """The audio path's running count, read now; bytes since the last update count for `today`."""
        delta = max(sent_bytes - self._last, 0)
        self._last = sent_bytes
        if today != self._day:
            self._day, self._today = today, 0  # a new day starts from zero
        self._today += delta
        if self._meeting is not None:
            self._meeting += delta
        return self.totals

    def meeting_started(self) -> None:
        self._meeting = 0

    def meeting_ended(self) -> float:
        """Seconds sent in the meeting that just ended."""
        sent, self._meeting = self._meeting or 0, None
        return bytes_to_seconds(sent)

    @property
    def totals(self) -> AudioTotals:
        meeting = bytes_to_seconds(self._meeting) if self._meeting is not None else None
        return AudioTotals(self._day, bytes_to_seconds(self._today), meeting)
