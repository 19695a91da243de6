"""The owner's one output, made of many: each record goes to every output in the list.

The owner (app/daemon.py) is typed against `Output` and holds one; the composition root (app/run.py)
builds a `FanOut` of the real ones (the archive, the MQTT link). Adding an output is a line there.

"Stored before published": an output that keeps the record (`StoringOutput`, the archive) is handed
each final utterance with `store_transcript`, which returns a `concurrent.futures.Future` that is done
once the record is durable. The other outputs get the utterance only then, and every record that came
after it (state, events, partials) waits behind it, so they see the owner's order. With a store in the
list, the other outputs are called from one `output-release` thread, never from the owner's loop: the
loop only appends to a queue, and neither the archive's commit nor the outbox's (the MQTT link stores
an utterance before `submit_transcript` returns) ever runs on it. The queue is released from its head,
so completion order never matters. A store that fails is logged and the record is published anyway:
keeping the record is not a reason to stop transcribing.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from concurrent.futures import Future
from typing import Callable, Protocol, Sequence, TypeVar, runtime_checkable

from roomscribe.core.records import AudioStats, Event, Partial, StateMessage, Utterance
from roomscribe.outputs.base import Output

log = logging.getLogger(__name__)
T = TypeVar("T")


@runtime_checkable
class StoringOutput(Protocol):
    """An output whose copy of an utterance must be durable before the others publish it."""

    def store_transcript(self, utt: Utterance) -> Future: ...


class FanOut:
    def __init__(self, outputs: Sequence[Output]):
        self.outputs = list(outputs)
        self._stores = [o for o in self.outputs if isinstance(o, StoringOutput)]
        self._others = [o for o in self.outputs if not isinstance(o, StoringOutput)]
        self._pending: deque[tuple[list[Future], Callable[[Output], None], str]] = deque()
        self._changed = threading.Condition()
        self._stopping = False
        self._thread: threading.Thread | None = None

    def find(self, kind: type[T]) -> T | None:
        """The first output of this type (tests and the demo look inside the MQTT link)."""
        return next((o for o in self.outputs if isinstance(o, kind)), None)

    @property
    def pending(self) -> int:
        """Records not yet handed to the other outputs."""
        return len(self._pending)

    # -- Output --------------------------------------------------------------------------------

    def start(self) -> None:
        if self._stores and self._others and self._thread is None:
            self._thread = threading.Thread(target=self._release, name="output-release", daemon=True)
            self._thread.start()
        for output in self.outputs:
            _call(output, "start", lambda o: o.start())

    def stop(self, timeout: float = 10.0) -> None:
        """Stores first (each drains what it was handed), then the rest gets what it is owed, then stops."""
        for output in self._stores:
            _call(output, "stop", lambda o: o.stop())
        with self._changed:
            self._stopping = True
            self._changed.notify()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.error("outputs: %d records were not handed on within %.0f s", len(self._pending), timeout)
        for output in self._others:
            _call(output, "stop", lambda o: o.stop())

    def publish_state(self, msg: StateMessage) -> None:
        self._each(lambda o: o.publish_state(msg), "publish_state")

    def publish_event(self, event: Event) -> None:
        self._each(lambda o: o.publish_event(event), "publish_event")

    def publish_partial(self, partial: Partial) -> None:
        self._each(lambda o: o.publish_partial(partial), "publish_partial")

    def set_speech_connected(self, connected: bool | str) -> None:
        self._each(lambda o: o.set_speech_connected(connected), "set_speech_connected")

    def publish_stats(self, stats: AudioStats) -> None:
        self._each(lambda o: o.publish_stats(stats), "publish_stats")

    def submit_transcript(self, utt: Utterance) -> None:
        futures: list[Future] = []
        for store in self._stores:
            try:
                futures.append(store.store_transcript(utt))
            except Exception:  # noqa: BLE001  (a broken store must not lose the utterance)
                log.exception("%s could not take utterance %s#%d", type(store).__name__, utt.meeting_id, utt.seq)
        self._later(futures, lambda o: o.submit_transcript(utt), "submit_transcript")
        for future in futures:
            future.add_done_callback(self._stored)

    # -- the queue -----------------------------------------------------------------------------

    def _each(self, call: Callable[[Output], None], name: str) -> None:
        for store in self._stores:
            _call(store, name, call)
        self._later([], call, name)

    def _later(self, futures: list[Future], call: Callable[[Output], None], name: str) -> None:
        with self._changed:
            # Queued while the release thread runs (or the stop drains it); straight through without one:
            # no store, not started, or a late record after the stop (the outbox still takes it then).
            queued = self._thread is not None and not (self._stopping and not self._thread.is_alive())
            if queued:
                self._pending.append((futures, call, name))
                self._changed.notify()
        if not queued:
            self._deliver(futures, call, name)

    def _stored(self, future: Future) -> None:
        """On the store's thread: the head of the queue may be free to go."""
        with self._changed:
            self._changed.notify()

    def _release(self) -> None:
        """The `output-release` thread: hands the queue's head on once its stores are done, in order."""
        while True:
            with self._changed:
                while not (self._pending and (self._stopping or all(f.done() for f in self._pending[0][0]))):
                    if self._stopping and not self._pending:
                        return
                    self._changed.wait()
                futures, call, name = self._pending.popleft()
            self._deliver(futures, call, name)

    def _deliver(self, futures: list[Future], call: Callable[[Output], None], name: str) -> None:
        for future in futures:
            if not future.done():
                log.error("a store did not finish before the stop; publishing without its copy")
            elif future.exception() is not None:
                log.error("a store failed (%s); publishing without its copy", future.exception())
        for output in self._others:
            _call(output, name, call)


def _call(output: Output, name: str, call: Callable[[Output], None]) -> None:
    try:
        call(output)
    except Exception:  # noqa: BLE001  (one output failing must not starve the others)
        log.exception("output %s failed in %s", type(output).__name__, name)
