"""Faults the emulator can inject: a frozen plan given at construction, and knobs changed while it runs.

The plan holds the service-like defaults (idle close after 300 s, a forced reconnect every 600 s). The
knobs live in FaultState, which any thread may change: tests call them while the server runs on its own
event loop, and the server reads them under the same lock.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass

# The real service's close after five minutes without audio (usp-protocol.md §9).
IDLE_CLOSE_CODE = 1000
IDLE_CLOSE_REASON = "Exceeded maximum websocket connection idle duration(> 300000ms)"
# The forced reconnect cycle: the real service switches connections about every ten minutes. Its close
# text is not known; this one is the emulator's own.
CYCLE_CLOSE_CODE = 1000
CYCLE_CLOSE_REASON = "Emulator: maximum connection duration reached, reconnect"
UNSUPPORTED_AUDIO_CLOSE_CODE = 1007  # the SDK turns it into canceled(BadRequest)

REFUSABLE_STATUSES = frozenset({400, 401, 403, 404, 408, 429, 500, 503})
PHRASE_ERROR_STATUSES = frozenset({"Error", "BadRequest", "TooManyRequests", "Forbidden", "ServiceUnavailable"})


@dataclass(frozen=True)
class FaultPlan:
    """What goes wrong, decided before the emulator starts. The defaults behave like the service."""

    idle_timeout_seconds: float | None = 300.0  # close (1000, idle reason) after this long without audio
    reconnect_every_seconds: float | None = 600.0  # close (1000) every connection this long after it opened
    close_after_seconds: float | None = None  # close connections this long after they opened ...
    close_code: int = 1000  # ... with this code
    close_reason: str = ""  # ... and reason
    close_every_connection: bool = False  # False: only the first connection gets the close_after close
    refuse_status: int | None = None  # answer the upgrade with this HTTP status ...
    refuse_count: int | None = None  # ... for this many connections (None: all of them)
    result_delay_ms: float = 0.0  # hold each recognition result this long before sending it
    acknowledge: bool = True  # False: send no phrases and no acknowledgement (the SDK's buffer fills)
    phrase_error_status: str | None = None  # the next phrases carry this RecognitionStatus instead of Success ...
    phrase_error_count: int = 1  # ... this many of them
    handshake_delay_ms: float = 0.0  # network distance: wait this long before answering the upgrade
    one_way_delay_ms: float = 0.0  # network distance: every message, either way, arrives this much later

    def __post_init__(self) -> None:
        for name in ("idle_timeout_seconds", "reconnect_every_seconds", "close_after_seconds"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ValueError(f"{name} must be positive, got {value}")
        for name in ("result_delay_ms", "handshake_delay_ms", "one_way_delay_ms"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative, got {getattr(self, name)}")
        if self.refuse_status is not None and self.refuse_status not in REFUSABLE_STATUSES:
            raise ValueError(f"refuse_status must be one of {sorted(REFUSABLE_STATUSES)}, got {self.refuse_status}")
        if self.refuse_count is not None and self.refuse_count < 0:
            raise ValueError(f"refuse_count must not be negative, got {self.refuse_count}")
        if self.phrase_error_status is not None and self.phrase_error_status not in PHRASE_ERROR_STATUSES:
            raise ValueError(
                f"phrase_error_status must be one of {sorted(PHRASE_ERROR_STATUSES)}, got {self.phrase_error_status!r}"
            )
        if not 1000 <= self.close_code <= 4999:
            raise ValueError(f"close_code must be a WebSocket close code (1000-4999), got {self.close_code}")


@dataclass(frozen=True)
class NetworkDelay:
    handshake_seconds: float
    one_way_seconds: float


class FaultState:
    """The faults in force now. Thread-safe: every method takes the lock."""

    def __init__(self, plan: FaultPlan):
        self.plan = plan
        self._lock = threading.Lock()
        self._refusals: deque[int] = deque()
        self._refuse_forever: int | None = None
        if plan.refuse_status is not None:
            if plan.refuse_count is None:
                self._refuse_forever = plan.refuse_status
            else:
                self._refusals.extend([plan.refuse_status] * plan.refuse_count)
        self._result_delay = plan.result_delay_ms / 1000
        self._acknowledge = plan.acknowledge
        self._phrase_errors: deque[str] = deque()
        if plan.phrase_error_status is not None:
            self._phrase_errors.extend([plan.phrase_error_status] * plan.phrase_error_count)
        self._network = NetworkDelay(plan.handshake_delay_ms / 1000, plan.one_way_delay_ms / 1000)
        self._idle_timeout = plan.idle_timeout_seconds

    # -- knobs (any thread) --------------------------------------------------------------------------

    def refuse_upgrades(self, status: int, count: int | None = None) -> None:
        """Answer the next `count` upgrades (None: every one from now on) with HTTP `status`."""
        if status not in REFUSABLE_STATUSES:
            raise ValueError(f"status must be one of {sorted(REFUSABLE_STATUSES)}, got {status}")
        with self._lock:
            if count is None:
                self._refuse_forever = status
            else:
                self._refusals.extend([status] * count)

    def accept_upgrades(self) -> None:
        with self._lock:
            self._refuse_forever = None
            self._refusals.clear()

    def set_result_delay(self, milliseconds: float) -> None:
        with self._lock:
            self._result_delay = max(0.0, milliseconds) / 1000

    def stop_acknowledging(self) -> None:
        """Send hypotheses only: no phrases, no acknowledgement, so the SDK's 66 s buffer fills up."""
        with self._lock:
            self._acknowledge = False

    def resume_acknowledging(self) -> None:
        with self._lock:
            self._acknowledge = True

    def fail_next_phrases(self, status: str = "Error", count: int = 1) -> None:
        """The next `count` recognized phrases are sent with RecognitionStatus `status` instead."""
        if status not in PHRASE_ERROR_STATUSES:
            raise ValueError(f"status must be one of {sorted(PHRASE_ERROR_STATUSES)}, got {status!r}")
        with self._lock:
            self._phrase_errors.extend([status] * count)

    def set_network_delay(self, *, one_way_ms: float | None = None, handshake_ms: float | None = None) -> None:
        with self._lock:
            self._network = NetworkDelay(
                self._network.handshake_seconds if handshake_ms is None else max(0.0, handshake_ms) / 1000,
                self._network.one_way_seconds if one_way_ms is None else max(0.0, one_way_ms) / 1000,
            )

    def set_idle_timeout(self, seconds: float | None) -> None:
        with self._lock:
            self._idle_timeout = seconds

    # -- reads (the server) --------------------------------------------------------------------------

    def take_refusal(self) -> int | None:
        """The HTTP status to refuse this upgrade with, or None to accept it."""
        with self._lock:
            if self._refusals:
                return self._refusals.popleft()
            return self._refuse_forever

    def take_phrase_error(self) -> str | None:
        with self._lock:
            return self._phrase_errors.popleft() if self._phrase_errors else None

    @property
    def result_delay(self) -> float:
        with self._lock:
            return self._result_delay

    @property
    def acknowledging(self) -> bool:
        with self._lock:
            return self._acknowledge

    @property
    def network(self) -> NetworkDelay:
        with self._lock:
            return self._network

    @property
    def idle_timeout(self) -> float | None:
        with self._lock:
            return self._idle_timeout
