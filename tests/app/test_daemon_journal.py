"""No disk commit on the owner's loop, in any configuration: the real daemon (emulator, Mosquitto, a WAV
meeting) runs with a profiler on its loop's thread that notes every call into SQLite and every fsync. With
the record kept and with it switched off (before the journal, the second put the outbox's fsync back on
the loop), the loop calls neither, while the journal commits every utterance on its own thread."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import sys
import threading

import pytest

from roomscribe.app.run import run_daemon
from roomscribe.config import settings_from_data
from tests.support.daemon_harness import TONE_SPEECH, Subscriber, write_script_wav
from tests.support.journal import read_records, waiting_on_disk

MEETING = "Guest-1: Good morning everyone.\nGuest-2: Hello, shall we start?\nGuest-1: Yes, first item.\n[silence 1]\n"
DISK = (os.fsync, os.fdatasync, sqlite3.connect)


class DiskCalls:
    """sys.setprofile on one thread: every C call into sqlite3 (connection or cursor) and every fsync."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def __call__(self, frame, event, arg) -> None:
        if event != "c_call":
            return
        owner = getattr(arg, "__self__", None)
        if arg in DISK or isinstance(owner, (sqlite3.Connection, sqlite3.Cursor)):
            self.seen.append(arg.__qualname__)


class ProfiledDaemon:
    """The real daemon on a thread of its own, profiled on its loop from before its outputs start."""

    def __init__(self, settings):
        self.calls = DiskCalls()
        self._settings = settings
        self._ready = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), name="owner-under-test")

    async def _main(self) -> None:
        self.loop, self.stop = asyncio.get_running_loop(), asyncio.Event()
        self.exit_code = await run_daemon(self._settings, stop=self.stop, on_built=self._built)
        sys.setprofile(None)

    def _built(self, daemon) -> None:  # on the loop's thread, before daemon.run starts the outputs
        self.daemon = daemon
        sys.setprofile(self.calls)
        self._ready.set()

    def __enter__(self) -> "ProfiledDaemon":
        self._thread.start()
        assert self._ready.wait(20)
        return self

    def __exit__(self, *exc) -> None:
        self.loop.call_soon_threadsafe(self.stop.set)
        self._thread.join(20)
        assert not self._thread.is_alive()


@pytest.mark.parametrize("record", [True, False], ids=["record kept", "record off"])
def test_no_disk_commit_runs_on_the_owners_loop(tmp_path, mosquitto, emulator, record):
    wav, planned = write_script_wav(tmp_path, MEETING)
    journal = tmp_path / "journal.sqlite3"
    settings = settings_from_data({
        "room": "testroom",
        "mqtt": {"host": "127.0.0.1", "port": mosquitto.port},
        "journal": {"path": str(journal)},
        "archive": {"enabled": record},
        "speech": {"host": emulator.host_url, "key": "test-key"},
        "audio": {"source": "file", "file": str(wav), "speed": 2.0, **TONE_SPEECH},
    })
    sub = Subscriber("127.0.0.1", mosquitto.port)
    with ProfiledDaemon(settings) as run:
        got = sub.wait_for(lambda s: (lambda t: t if len(t) >= 3 else None)(s.payloads("meeting/transcript")), 60,
                           "three transcripts")
        commits_during_the_meeting = run.daemon.diagnostics().output("journal").figures["commits"]
        run.loop.call_soon_threadsafe(lambda: sqlite3.connect(":memory:").execute("SELECT 1"))  # the probe works
    sub.close()
    assert run.exit_code == 0
    assert [u["text"] for u in got] == [p.text for p in planned]
    assert commits_during_the_meeting >= 3  # the journal did commit them: on its own thread
    assert run.calls.seen == ["connect", "Connection.execute"], run.calls.seen  # the planted calls, nothing else
    if record:
        assert [u.to_payload() for u in read_records(journal)[0].utterances] == got
    else:
        assert read_records(journal) == [] and waiting_on_disk(journal) == []  # kept only until delivered
