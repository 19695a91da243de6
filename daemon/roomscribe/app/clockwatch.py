"""The wall clock, watched on the owner's loop: steps announced, whether it is synchronised said.

Once a second (`tick`):
* the owner's wall clock (core/clock.py WallClock) takes over the system's current offset. A change
  beyond its threshold is a step: logged, the state's `since` moved with it, a `clock_stepped` event
  published (`meeting_id`, `step_s`, `at`) and the state published again. Everything the owner stamped
  before the event is on the old clock, everything after it on the new one, so an output that keeps
  times (the archive) shifts what it holds of the running meeting by `step_s` when the event comes.
* the clock's synchronisation is asked again (system/timesync.py): the state's `clock_synchronized`
  and every utterance's mark follow it; a change is logged and the state published.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Callable

from roomscribe.app.publisher import Publisher
from roomscribe.core.clock import ClockStep, WallClock
from roomscribe.core.machine import MeetingMachine
from roomscribe.core.records import iso_utc
from roomscribe.system.timesync import ClockSync

log = logging.getLogger(__name__)

WATCH_SECONDS = 1.0


class ClockWatch:
    def __init__(self, wall_clock: WallClock, sync_check: Callable[[], ClockSync], publish: Publisher,
                 machine: MeetingMachine, publish_state: Callable[[], None]):
        self._wall_clock = wall_clock
        self._sync_check = sync_check
        self._publish = publish
        self._event = publish.event
        self._machine = machine
        self._publish_state = publish_state
        # Before the first state: whether the clock is synchronised, said once in the log.
        self._sync = self._read_sync()
        self._publish.clock_synchronized = self._sync.synchronized
        if self._sync.synchronized:
            log.info("system clock: %s", self._sync.reason)
        else:
            log.warning("the system clock is not known to be synchronised (%s); utterances are marked "
                        "clock_synchronized: false until it is", self._sync.reason)

    async def run(self) -> None:
        while True:
            await asyncio.sleep(WATCH_SECONDS)
            self.tick()

    def tick(self) -> None:
        step = self._wall_clock.check()
        if step is not None:
            self._stepped(step)
        sync = self._read_sync()
        changed = sync.synchronized != self._sync.synchronized
        self._sync = sync
        if changed:
            self._publish.clock_synchronized = sync.synchronized
            if sync.synchronized:
                log.info("the system clock is synchronised now: %s", sync.reason)
            else:
                log.warning("the system clock is no longer known to be synchronised: %s", sync.reason)
        if step is not None or changed:
            self._publish_state()

    def _stepped(self, step: ClockStep) -> None:
        meeting_id = self._machine.meeting_id
        log.warning("the wall clock stepped by %+.3f s (now %s)%s", step.step_s, iso_utc(step.at),
                    f"; meeting {meeting_id} keeps its monotonic durations, its times move with the clock"
                    if meeting_id else "")
        self._machine.clock_stepped(step.step_s)
        self._event("clock_stepped", {"meeting_id": meeting_id, "step_s": round(step.step_s, 3), "at": step.at},
                    level="warning")

    def _read_sync(self) -> ClockSync:
        try:
            return self._sync_check()
        except Exception as exc:  # noqa: BLE001  (a check that fails says nothing)
            return ClockSync(False, f"the check failed: {exc}")
