"""The archive's one writer: a thread that owns the writing connection and applies writes in order.

Callers (the daemon's asyncio loop) enqueue and return at once; nothing they call touches the disk.
Each call returns a `concurrent.futures.Future` that completes once the write is committed and synced
(synchronous=FULL), or fails with the store's exception. The integrator keeps "stored before
published" by publishing in the future's callback, or with `await asyncio.wrap_future(future)`.

Writes that queued up while the previous commit was syncing go into one transaction (group commit):
one fsync for the lot, so the writer keeps up with bursts. If that transaction fails, each write of
the batch is retried alone, so one bad write fails only its own future. Retention runs at start and
then every `retention_interval_s` on the same thread. `close()` drains what was queued, then stops.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from concurrent.futures import Future
from pathlib import Path
from typing import Any, Callable

from roomscribe.core.records import Utterance
from roomscribe.outputs.archive.meetings import Meeting
from roomscribe.outputs.archive.store import ArchiveStore

log = logging.getLogger(__name__)

MAX_BATCH = 512
DAY_S = 86400.0
_STOP = object()


class WriterClosed(RuntimeError):
    pass


class ArchiveWriter:
    def __init__(
        self,
        path: Path | str,
        *,
        retention_days: float | None = None,
        retention_interval_s: float = DAY_S,
        on_retention: Callable[[list[Meeting]], None] | None = None,
        store_factory: Callable[[Path], ArchiveStore] = ArchiveStore,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.path = Path(path)
        self.retention_days = retention_days
        self.retention_interval_s = retention_interval_s
        self._on_retention = on_retention  # called on the writer thread with what retention deleted
        self._store_factory = store_factory
        self._clock = clock
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._closed = False
        self._close_lock = threading.Lock()
        self._opened: Future = Future()
        self._thread = threading.Thread(target=self._run, name="archive-writer", daemon=True)
        self.commits = 0  # transactions committed: tests and the benchmark read it

    # -- lifecycle ---------------------------------------------------------------------------------

    def start(self, timeout: float = 30.0) -> "ArchiveWriter":
        """Open the store on the writer thread; raises what opening it raised (e.g. a newer schema)."""
        self._thread.start()
        self._opened.result(timeout)
        return self

    def close(self, timeout: float | None = 30.0) -> None:
        """Apply everything queued so far, then stop. Later submissions fail with WriterClosed."""
        with self._close_lock:
            if self._closed:
                return
            self._closed = True
            self._queue.put(_STOP)
        if self._thread.is_alive():
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.error("archive writer did not finish within %s s", timeout)

    def __enter__(self) -> "ArchiveWriter":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def backlog(self) -> int:
        """Writes queued and not yet committed (approximate)."""
        return self._queue.qsize()

    # -- what the daemon records (each returns a future: done = durable) -----------------------------

    def meeting_started(self, meeting_id: str, room: str, at: float, speaker_epoch: int | None = None) -> Future:
        return self.submit("meeting_started", meeting_id, room, at, speaker_epoch)

    def meeting_ended(self, meeting_id: str, at: float, paused_s: float | None = None) -> Future:
        return self.submit("meeting_ended", meeting_id, at, paused_s)

    def pause_started(self, meeting_id: str, at: float) -> Future:
        return self.submit("pause_started", meeting_id, at)

    def pause_ended(self, meeting_id: str, at: float) -> Future:
        return self.submit("pause_ended", meeting_id, at)

    def speaker_epoch(self, meeting_id: str, epoch: int, at: float) -> Future:
        return self.submit("speaker_epoch", meeting_id, epoch, at)

    def utterance(self, utterance: Utterance) -> Future:
        """Result: True if new, False if (meeting_id, seq) was already there."""
        return self.submit("add_utterance", utterance)

    def audio_seconds(self, meeting_id: str, total_seconds: float) -> Future:
        return self.submit("set_audio_seconds", meeting_id, total_seconds)

    def end_unfinished(self, room: str) -> Future:
        """Result: the ids of this room's meetings that were left open by a dead daemon, now ended."""
        return self.submit("end_unfinished", room)

    def submit(self, operation: str | Callable[..., Any], *args: Any) -> Future:
        """Queue `store.<operation>(*args)` (a method name) or `operation(store, *args)`; never blocks.

        The future completes after the commit, on the writer thread: callbacks must be quick (an
        asyncio caller awaits `asyncio.wrap_future(future)`, which hands over to its loop).
        """
        future: Future = Future()
        with self._close_lock:
            if self._closed:
                future.set_exception(WriterClosed("the archive writer is closed"))
                return future
            self._queue.put((operation, args, future))
        return future

    # -- the thread --------------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            store = self._store_factory(self.path)
        except BaseException as exc:  # noqa: BLE001  (handed to start(), which raises it)
            self._opened.set_exception(exc)
            self._die(exc)
            return
        self._opened.set_result(None)
        next_retention = self._clock()
        try:
            while True:
                if self.retention_days is not None and self._clock() >= next_retention:
                    self._retention(store)
                    next_retention = self._clock() + self.retention_interval_s
                timeout = None if self.retention_days is None else max(0.0, next_retention - self._clock())
                try:
                    first = self._queue.get(timeout=timeout)
                except queue.Empty:
                    continue
                batch, stop = self._take_batch(first)
                if batch:
                    self._apply(store, batch)
                if stop:
                    break
        except BaseException as exc:  # noqa: BLE001  (the writer must not die silently)
            log.exception("archive writer stopped by an unexpected error")
            self._die(exc)
        finally:
            store.close()

    def _take_batch(self, first) -> tuple[list, bool]:
        if first is _STOP:
            return [], True
        batch = [first]
        while len(batch) < MAX_BATCH:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is _STOP:
                return batch, True
            batch.append(item)
        return batch, False

    def _apply(self, store: ArchiveStore, batch: list) -> None:
        results = []
        try:
            with store.transaction():
                for operation, args, _ in batch:
                    results.append(_call(store, operation, args))
        except Exception:  # noqa: BLE001  (one at a time, so only the bad one fails)
            log.debug("archive batch of %d failed; applying its writes one by one", len(batch), exc_info=True)
            for operation, args, future in batch:
                self._apply_one(store, operation, args, future)
            return
        self.commits += 1
        for (_, _, future), result in zip(batch, results):
            if future.set_running_or_notify_cancel():
                future.set_result(result)

    def _apply_one(self, store: ArchiveStore, operation, args, future: Future) -> None:
        try:
            with store.transaction():
                result = _call(store, operation, args)
        except Exception as exc:  # noqa: BLE001
            log.error("archive write %s failed: %s", getattr(operation, "__name__", operation), exc)
            if future.set_running_or_notify_cancel():
                future.set_exception(exc)
            return
        self.commits += 1
        if future.set_running_or_notify_cancel():
            future.set_result(result)

    def _retention(self, store: ArchiveStore) -> None:
        try:
            gone = store.apply_retention(self.retention_days)
        except Exception:  # noqa: BLE001  (retention failing must not stop the writes)
            log.exception("archive retention failed")
            return
        if gone and self._on_retention is not None:
            try:
                self._on_retention(gone)
            except Exception:  # noqa: BLE001
                log.exception("archive on_retention callback raised")

    def _die(self, exc: BaseException) -> None:
        """No thread will take writes any more: fail what is queued and whatever comes later."""
        with self._close_lock:
            self._closed = True
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return
            if item is not _STOP and item[2].set_running_or_notify_cancel():
                item[2].set_exception(exc)


def _call(store: ArchiveStore, operation: str | Callable[..., Any], args: tuple) -> Any:
    return getattr(store, operation)(*args) if isinstance(operation, str) else operation(store, *args)
