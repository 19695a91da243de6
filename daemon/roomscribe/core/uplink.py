"""The way out to the service: what of the backlog is written to the cloud session, when, and what it cost.

Every chunk that passed the gate is appended to the backlog (core/backlog.py), then `pump` hands back
what to write to the current session now:

* **A session that answers** is written everything at once (the normal case: a chunk in, the same chunk
  out). After an outage it is also sent what waited, faster than real time but never more than
  `window_s` past what the service acknowledged, so the SDK's own limit (it cancels past 66 s of
  unacknowledged written audio) is never near. Beyond the window audio still flows at real-time pace:
  the service acknowledges silence without an event the SDK raises, so a window that only final results
  slide could otherwise wait forever.
* **A session that has not answered yet** (connecting) is written nothing: a service that never answers
  would leave it in the SDK's buffers, session after session, and what it answers is sent at once.
* **A stalled session** is written nothing more (the SDK re-sends what it had); **no session**, or a
  **pause** with audio waiting: everything waits.

What the service acknowledged is forgotten: a final result covers its audio, and a live session with
more than the SDK's limit written after a byte has acknowledged that byte (else the SDK would have
cancelled). A new session starts at the oldest audio kept: it is sent exactly what no session
acknowledged, once. On overflow the oldest audio goes, reported lost at once if no session has it, or
once its session is abandoned without acknowledging it. An outage marks what it delays as late.

Pure: no I/O, no threads, no clock (the caller passes monotonic times); app/audio_path.py holds it
under its lock.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from roomscribe.core.audio_format import BYTES_PER_SECOND, SAMPLE_WIDTH, bytes_to_seconds
from roomscribe.core.backlog import BLOCK_BYTES, AtRisk, Backlog, LostSpan, Piece
from roomscribe.core.outage_book import LateSpans, LostSpans, StreamMap
from roomscribe.core.gate import Write
from roomscribe.core.liveness import ServiceWatch

WINDOW_S = 30.0  # how far past the acknowledged audio a burst may go (the SDK cancels past 66 s)
SDK_BUFFER_S = 66.0  # the SDK's limit of unacknowledged written audio (SPEECH-MaxBufferSizeMs)
INFER_MARGIN_S = 4.0  # a cancel the owner has not heard of yet is at most this old (at real-time pace)
FINAL_FLUSH_S = 60.0  # what a session being finished may be given past its acknowledged audio


@dataclass(frozen=True, slots=True)
class CaughtUp:
    buffered_s: float  # audio seconds that waited
    outage_s: float  # from the stall or the loss to the service's first answer
    catch_up_s: float  # from that answer until everything that waited was written
    kept_peak_bytes: int  # the most memory the buffer held meanwhile


@dataclass(frozen=True, slots=True)
class UplinkReport:
    stalled_for: float | None  # the answering session's oldest unanswered speech waited this long: a stall
    lost: list[LostSpan]
    caught_up: CaughtUp | None
    waiting_s: float  # audio kept that the current session was not written yet
    kept_bytes: int  # memory the backlog holds now


@dataclass(slots=True)
class _Outage:
    began: float
    answered: float | None = None
    kept_peak: int = 0


class Uplink:
    def __init__(self, capacity_bytes: int, *, is_speech: Callable[[Write], bool], watch: ServiceWatch | None = None,
                 window_s: float = WINDOW_S, block_bytes: int = BLOCK_BYTES):
        self.backlog = Backlog(capacity_bytes, block_bytes=block_bytes)
        self.watch = watch or ServiceWatch()
        self._is_speech = is_speech
        self._window = _whole(window_s * BYTES_PER_SECOND)
        self._infer_bytes = _whole((SDK_BUFFER_S + INFER_MARGIN_S) * BYTES_PER_SECOND)
        self._map: StreamMap | None = None
        self._sent = 0  # next position to write to the current session
        self._acked = 0  # what the current session acknowledged, as its stream offset
        self._confirmed = False
        self.stalled = False
        self._held = False  # paused with audio waiting: it waits for the resume (or the meeting's end)
        self._last_pump = 0.0
        self._credit = 0.0  # bytes the real-time pace allows now
        self._risk = AtRisk()  # dropped from the backlog, held by the current session only
        self._late = LateSpans()
        self._outage: _Outage | None = None
        self._caught_up: CaughtUp | None = None
        self._lost = LostSpans()

    # -- the session -------------------------------------------------------------------------------

    def attach(self, now: float) -> StreamMap:
        """A new session: it is sent everything no session acknowledged, from the oldest audio kept."""
        self._map = StreamMap(self.backlog.start)
        self._sent, self._acked = self.backlog.start, 0
        self._confirmed = self.stalled = False
        self._risk.clear()
        self._last_pump, self._credit = now, 0.0
        self.watch.reset()
        return self._map

    def detach(self, now: float, *, abandoned: bool) -> None:
        """No current session. Abandoned: what only it held is lost, and what is kept waits (an outage)."""
        if self._map is None:
            return
        if abandoned:
            if self._risk.span is not None:
                self._lost.add(self._risk.span, now)
            self._outage_begins(now)
        self._map = None
        self._risk.clear()

    def answered(self, now: float, *, connection: bool = False) -> None:
        """The current session's service answered (a result; or, `connection`, it took a connection)."""
        if self._map is None:
            return
        (self.watch.connected if connection else self.watch.answered)(now)
        self._confirmed, self.stalled = True, False
        if self._outage is not None and self._outage.answered is None:
            self._outage.answered = now

    def pause(self, paused: bool) -> None:
        """A pause holds what an outage kept until the resume; with nothing waiting, the tail flows as usual."""
        self._held = paused and self.waiting_s > 0

    def stall(self, now: float) -> None:
        """The owner found the current session stalled: write it nothing more until it answers."""
        if self._map is not None:
            self.stalled = True
            self._outage_begins(now)

    def acknowledged(self, stream: StreamMap, offset: int) -> None:
        """A session acknowledged its stream up to `offset` bytes: that audio is no longer needed."""
        offset = min(offset, stream.written)
        if stream is self._map:
            if offset <= self._acked:
                return
            self._acked = offset
        position = stream.position(offset)
        self.backlog.trim(position)
        if self._map is not None and self._sent < self.backlog.start:
            self._sent = self.backlog.start
        if stream is self._map:
            self._risk.acknowledged(position)

    # -- the capture thread ------------------------------------------------------------------------

    def push(self, writes: list[Write], now: float) -> list[Piece]:
        """Keep `writes` (making room first), then what to write to the session now."""
        end_before, kept = self.backlog.end, []
        for write in writes:
            if write.pcm:
                self._make_room(len(write.pcm), now)
                kept.append(Piece(self.backlog.end, write.pcm, write.wall_clock, self._is_speech(write), write.monotonic))
                self.backlog.append(write.pcm, write.wall_clock, kept[-1].speech, write.monotonic)
        if self._outage is not None:
            self._outage.kept_peak = max(self._outage.kept_peak, self.backlog.resident_bytes)
        if (self._sent == end_before and self._map is not None and self._confirmed and not self.stalled
                and not self._held and self._map.written - self._acked + self.backlog.end - end_before <= self._window):
            self._last_pump = now  # the normal case: what came goes as it came, not read back
            return self._wrote(kept, now)
        return self.pump(now)

    def pump(self, now: float, *, final: bool = False) -> list[Piece]:
        """What to write to the current session now; `final`: the meeting ends with it, give it all it can take."""
        if self._map is None or self.stalled or (self._held and not final):
            self._last_pump, self._credit = now, 0.0
            return []
        unacked = self._map.written - self._acked
        allow = self._window - unacked if self._confirmed else 0
        if self._confirmed:  # real-time pace at least: credit for the time since the last pump, up to a second
            self._credit = min(self._credit + (now - self._last_pump) * BYTES_PER_SECOND, BYTES_PER_SECOND)
            allow = max(allow, _whole(self._credit + 0.5))
        if final:
            allow = max(allow, _whole(FINAL_FLUSH_S * BYTES_PER_SECOND) - unacked)
        self._last_pump = now
        return self._wrote(self.backlog.read(self._sent, allow) if allow > 0 else [], now)

    def _wrote(self, pieces: list[Piece], now: float) -> list[Piece]:
        for piece in pieces:
            self._map.wrote(piece.pos, len(piece.pcm))
            self.watch.sent(now, bytes_to_seconds(len(piece.pcm)), piece.speech)
            self._sent = piece.pos + len(piece.pcm)
            self._credit = max(self._credit - len(piece.pcm), 0.0)
        if self._confirmed and self._map.written - self._infer_bytes > self._acked:
            self.acknowledged(self._map, self._map.written - self._infer_bytes)
        if self._outage is not None:
            self._check_caught_up(now)
        return pieces

    # -- what the owner reads ----------------------------------------------------------------------

    @property
    def session_ready_for_keepalive(self) -> bool:  # an answering session with nothing waiting
        return self._map is not None and self._confirmed and not self.stalled and self._sent >= self.backlog.end

    @property
    def waiting_s(self) -> float:
        """Audio kept that the current session was not written yet (all of it without a session)."""
        return bytes_to_seconds(self.backlog.end - (self._sent if self._map is not None else self.backlog.start))

    def stream_bytes_at_end(self) -> int | None:
        """The current session's stream offset where the next kept byte will land, if there is a session."""
        return self._map.written + self.backlog.end - self._sent if self._map is not None else None

    def is_late(self, start: int, end: int) -> bool:
        """Whether audio positions [start, end) were delayed by an outage."""
        return self._late.covers(start, end)

    def check(self, now: float) -> UplinkReport:
        stalled_for = None
        if self._map is not None and self._confirmed and not self.stalled and self.watch.stalled(now):
            stalled_for = self.watch.unanswered_s(now)
        caught_up, self._caught_up = self._caught_up, None
        return UplinkReport(stalled_for, self._lost.take(now), caught_up, self.waiting_s, self.backlog.resident_bytes)

    def discard(self, now: float) -> tuple[list[LostSpan], LostSpan | None]:
        """Give up everything kept (the meeting ended, or the service refused it). Returns the spans lost
        earlier and not reported yet, and the span given up now."""
        earlier = self._lost.take(now, everything=True)
        dropped = None
        if self.backlog.start < self.backlog.end:
            dropped = self.backlog.times.span(self.backlog.start, self.backlog.end)
        self.backlog.clear()
        if self._map is not None:
            self._sent = self.backlog.start
        self._late.close(self.backlog.end)
        self._outage = None
        return earlier, dropped

    def new_meeting(self) -> None:
        """Nothing of an earlier meeting is late in this one."""
        self._late.clear()
        self._outage = self._caught_up = None

    # -- inside ------------------------------------------------------------------------------------

    def _make_room(self, nbytes: int, now: float) -> None:
        drop = self.backlog.overflow(nbytes)
        if not drop:
            return
        start, end = self.backlog.start, self.backlog.start + drop
        held_until = min(end, self._sent) if self._map is not None else start
        if held_until > start:  # the session was written these: lost only if it never acknowledges them
            self._risk.add(self.backlog.times, start, held_until)
        if end > held_until:
            self._lost.add(self.backlog.times.span(held_until, end), now)
        self.backlog.trim(end)
        if self._map is not None and self._sent < end:
            self._sent = end

    def _outage_begins(self, now: float) -> None:
        if self._outage is None:
            self._outage = _Outage(began=now)
            self._late.open(self.backlog.start)
        else:
            self._outage.answered = None  # a second stall or loss before the first was caught up

    def _check_caught_up(self, now: float) -> None:
        outage = self._outage
        if outage is None or outage.answered is None or not self._confirmed or self._sent < self.backlog.end:
            return
        waited = self._late.close(self.backlog.end)
        self._outage = None
        if waited > 0:
            self._caught_up = CaughtUp(bytes_to_seconds(waited), outage.answered - outage.began,
                                       now - outage.answered, outage.kept_peak)


def _whole(nbytes: float) -> int:
    """Whole samples, never negative."""
    value = max(int(nbytes), 0)
    return value - value % SAMPLE_WIDTH

