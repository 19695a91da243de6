"""The audio source's status reports, on the owner's loop: logged, published as events, and told
to the machine as its audio status (`transcribing` needs audio that flows)."""

from __future__ import annotations

import asyncio
import logging
from typing import Callable

from roomscribe.audio.source import SourceStatus
from roomscribe.core.table import AudioStatus

log = logging.getLogger(__name__)


class SourceReports:
    def __init__(self, event: Callable[..., None], audio_changed: Callable[[AudioStatus, str], None]):
        self._event = event
        self._audio_changed = audio_changed
        self.reported = asyncio.Event()  # the first report: part of being ready
        self.last: SourceStatus | None = None

    def report(self, status: SourceStatus) -> None:
        self.last = status
        self.reported.set()
        if status.kind == "opened":
            log.info("audio source opened: %s", status.detail)
            self._event("audio_source_opened", {"detail": status.detail})
            self._audio_changed(AudioStatus.WAITING, f"{status.detail} is open; no audio delivered yet")
        elif status.kind == "flowing":
            log.info("audio flows from %s", status.detail)
            self._audio_changed(AudioStatus.FLOWING, f"{status.detail} delivers audio")
        elif status.kind == "lost":
            log.error("audio source lost: %s", status.detail)
            self._event("audio_source_lost", {"detail": status.detail}, level="error")
            self._audio_changed(AudioStatus.LOST, status.detail)
        elif status.kind == "overflow":
            log.warning("audio overflow: %s", status.detail)
            self._event("audio_overflow", {"detail": status.detail}, level="warning")
        elif status.kind == "ended":
            log.info("audio source ended: %s", status.detail)
            self._event("audio_source_ended", {"detail": status.detail})
            self._audio_changed(AudioStatus.ENDED, f"{status.detail} played to its end")
