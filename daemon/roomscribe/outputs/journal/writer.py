"""The journal's one writer: a thread that owns the journal's file and commits what queued up, in batches.

Callers (the owner's loop, through JournalOutput) only queue: nothing they call touches the disk. The
thread takes everything that queued while the last commit synced and commits it as one transaction:
one fsync for the batch (file.py). An utterance gets its row id (the order of delivery) and its
payload here, off the owner's loop. Once its commit returned, the writer wakes the MQTT link
(`on_stored`), which reads it from the file and publishes it: stored before published is decided by
this commit. The live page gets each utterance at the same moment (`on_utterances`), so what a page
reads from the journal when it opens and what it is sent live meet without a gap. The broker's
acknowledgements come back through `Waiting` and ride on the next commit (or, when nothing else is
written for `ack_flush_s`, on one of their own).

A full disk is a full disk: when a commit fails for a passing reason (schema.is_transient), the
batch is held in memory in order (at most `memory_backlog` writes; beyond that the oldest
utterances go, and an event says which), the utterances among it are published from there, and the
writer tries again every `retry_s`. When a try succeeds, everything held is stored as it would have
been. Held utterances go to the page too, at once: a page reads them from memory with the stored ones
(`Waiting.held_of`). The health and its events go to the owner through the Reporter (health.py).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from concurrent.futures import Future
from typing import Any, Callable, TypeVar

from roomscribe.core.records import Utterance, encode
from roomscribe.outputs.journal.file import JournalFile, Outcome, PartlyCommitted, Write
from roomscribe.outputs.journal.health import Health, Reporter, Trouble
from roomscribe.outputs.journal.held import HeldWrites, renumber
from roomscribe.outputs.journal.waiting import ACK_BATCH, Pending, Waiting

log = logging.getLogger(__name__)
T = TypeVar("T")

MAX_BATCH = 512
TIDY_INTERVAL_S = 86400.0
_STOP, _WAKE = object(), object()


class WriterClosed(RuntimeError):
    pass


class JournalWriter:
    def __init__(self, file: JournalFile, waiting: Waiting, reporter: Reporter, *, memory_backlog: int = 5000,
                 retry_s: float = 5.0, ack_flush_s: float = 60.0, monotonic: Callable[[], float] = time.monotonic):
        self.file = file
        self.waiting = waiting
        self.reporter = reporter
        self.memory_backlog = memory_backlog
        self.retry_s = retry_s
        self.ack_flush_s = ack_flush_s
        self._monotonic = monotonic
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._held = HeldWrites(waiting, memory_backlog)
        self._lock = threading.Lock()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="journal-writer", daemon=True)
        self.trouble = Trouble(reporter, file.path, memory_backlog, retry_s, monotonic)
        self.on_stored: Callable[[], None] | None = None  # utterances to publish: the link's wake-up
        # Utterances newly stored, or held in memory because the disk refused them, in order: the live page.
        self.on_utterances: Callable[[list[Utterance]], None] | None = None
        waiting.on_ack = lambda: self._queue.put(_WAKE)

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> "JournalWriter":
        """Opening happens on the writer's thread; this returns at once, whatever the disk does."""
        self._thread.start()
        return self

    def close(self, timeout: float | None = 30.0) -> None:
        """Commit everything queued (and held, if the disk takes it now) and the acknowledgements; stop."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._queue.put(_STOP)
        if self._thread.is_alive():
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.error("journal writer did not finish within %s s", timeout)

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until everything queued so far was committed, or held because the disk refused it."""
        marker = threading.Event()
        with self._lock:
            if self._closed or not self._thread.is_alive():
                return False
            self._queue.put(marker)
        return marker.wait(timeout)

    @property
    def health(self) -> Health:
        return self.reporter.health

    # -- queueing (any thread; never touches the disk) ---------------------------------------------

    def submit(self, apply: Callable[..., T], *args: Any) -> Future[T]:
        """Queue `apply(db, *args)`; the future completes after its commit, with its result or error."""
        return self._put(Write(apply=(lambda db: apply(db, *args)) if args else apply, done=Future()))

    def utterance(self, utterance: Utterance) -> Future[bool]:
        """Queue a final utterance; the future says True (new) or False (already there) once it is durable."""
        return self._put(Write(utterance=utterance, done=Future()))

    def _put(self, write: Write) -> Future[Any]:
        with self._lock:
            if self._closed:
                write.done.set_exception(WriterClosed("the journal writer is closed"))
            else:
                self._queue.put(write)
        return write.done

    # -- the thread ------------------------------------------------------------------------------

    def _run(self) -> None:
        if self._try(self.file.open):
            self._try(self.file.tidy)
        else:
            self.file.peek()
        next_tidy = self._monotonic() + TIDY_INTERVAL_S
        acks_due: float | None = None
        while True:
            try:
                first = self._queue.get(timeout=self._timeout(next_tidy, acks_due))
            except queue.Empty:
                first = None
            batch, markers, stop = self._take(first)
            now = self._monotonic()
            if acks_due is None and self.waiting.has_acks():
                acks_due = now + self.ack_flush_s
            if self.waiting.acks_pending() >= ACK_BATCH:  # a backlog is being drained: write them now
                acks_due = now
            troubled = bool(len(self._held)) or not self.file.is_open or self.trouble.failed_at is not None
            if batch or stop or (acks_due is not None and now >= acks_due) or (troubled and self.trouble.retry_due(now)):
                if self._store(batch, force=stop) and not self.waiting.has_acks():
                    acks_due = None
            for marker in markers:
                marker.set()
            if self.file.is_open and now >= next_tidy:
                self._try(self.file.tidy)
                next_tidy = now + TIDY_INTERVAL_S
            if stop:
                break
        if len(self._held):
            log.error("journal: stopping with %d records the disk did not take; they are lost", len(self._held))
        self.file.close()

    def _timeout(self, next_tidy: float, acks_due: float | None) -> float:
        due = [next_tidy] + ([acks_due] if acks_due is not None else [])
        if len(self._held) or not self.file.is_open or self.trouble.failed_at is not None:
            due.append(self.trouble.next_try())
        return max(0.0, min(due) - self._monotonic())

    def _take(self, first) -> tuple[list[Write], list[threading.Event], bool]:
        items, stop = [first], first is _STOP
        while not stop and len(items) < MAX_BATCH:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            stop = item is _STOP
            items.append(item)
        batch = []
        for write in (item for item in items if isinstance(item, Write)):
            if write.utterance is not None:  # its place in the order of delivery, and what will be published
                u = write.utterance
                try:
                    payload = encode(u.to_payload())
                except (ValueError, TypeError, OverflowError) as exc:  # never published either: say so, go on
                    log.error("journal: utterance %s#%s cannot be encoded (%s); dropped", u.meeting_id, u.seq, exc)
                    write.done.set_exception(exc)
                    continue
                write.pending = Pending(self.file.next_id, u.meeting_id, u.seq, payload)
                write.stored_at = self.reporter.clock()
                self.file.next_id += 1
            batch.append(write)
        return batch, [item for item in items if isinstance(item, threading.Event)], stop

    def _store(self, batch: list[Write], force: bool = False) -> bool:
        """Commit what is held and the batch, or hold them if the disk refuses. True if committed."""
        if len(self._held) and not force and not self.trouble.retry_due(self._monotonic()):
            self._hold(batch)
            return False
        writes = [*self._held.take(), *batch]
        opened = False
        try:
            if not self.file.is_open:
                self.file.open()
                opened = True
                self.file.next_id = renumber(writes, self.file.next_id, self.waiting)
            outcomes = self.file.commit(writes)
        except PartlyCommitted as partly:
            self._done(partly.outcomes)
            self.trouble.failed(partly.cause, len(partly.remaining))
            self._hold(partly.remaining)
            return False
        except Exception as exc:  # noqa: BLE001  (whatever it was, the writes are kept)
            self.trouble.failed(exc, len(writes))
            self._hold(writes)
            return False
        self.trouble.recovered()
        self._done(outcomes)
        if opened:
            self._try(self.file.tidy)
        return True

    def _done(self, outcomes: list[Outcome]) -> None:
        """Committed: each write's future is told, and the link woken for the utterances among them."""
        for write, result, error in outcomes:
            if error is not None:
                log.error("journal write failed: %s", error)
            if write.done is not None and write.done.set_running_or_notify_cancel():
                write.done.set_exception(error) if error is not None else write.done.set_result(result)
        if any(write.utterance is not None for write, _, _ in outcomes):
            self._wake_link()
            self._announce([write for write, _, error in outcomes if error is None])

    def _hold(self, writes: list[Write]) -> None:
        """Keep writes the disk refused; their utterances go out from memory meanwhile."""
        victims = self._held.keep(writes)
        if victims:
            self.trouble.dropped([w.utterance for w in victims])
        self.trouble.holding(len(self._held))
        if any(w.pending is not None for w in writes):
            self._wake_link()
            self._announce([w for w in writes if w.pending is not None and w not in victims])

    def _announce(self, writes: list[Write]) -> None:
        """Utterances the page has not been given yet (a held one is given when it is held, not again when stored)."""
        fresh = [w for w in writes if w.utterance is not None and not w.announced]
        if not fresh or self.on_utterances is None:
            return
        for write in fresh:
            write.announced = True
        try:
            self.on_utterances([u for u in (w.utterance for w in fresh) if u is not None])
        except Exception:  # noqa: BLE001  (on the writer's thread: never let it die)
            log.exception("journal: handing utterances to the page failed")

    def _try(self, step: Callable[[], None]) -> bool:
        try:
            step()
            return True
        except Exception as exc:  # noqa: BLE001  (the daemon runs on: what cannot be stored waits in memory)
            self.trouble.failed(exc, len(self._held))
            return False

    def _wake_link(self) -> None:
        if self.on_stored is not None:
            try:
                self.on_stored()
            except Exception:  # noqa: BLE001  (on the writer's thread: never let it die)
                log.exception("journal: waking the link failed")

