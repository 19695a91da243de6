"""The first start after an upgrade: the outbox and the archive of roomscribe before the journal (a state
directory written by 5545b0b, data/make_main_state.py) go into the journal, nothing lost, and the old files
are removed only once the journal holds them."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import time
from pathlib import Path

import pytest

from roomscribe.config import settings_from_data
from roomscribe.outputs.journal.journal import Journal
from roomscribe.outputs.journal.reader import JournalReader
from tests.support.journal import waiting_on_disk
from tests.support.tmpfs import Tmpfs, needs_root

MAIN_STATE = Path(__file__).parent / "data" / "main-5545b0b"
EXPECTED = json.loads((MAIN_STATE / "expected.json").read_text())
OLD_FILES = {"archive.sqlite3", "archive.sqlite3-wal", "archive.sqlite3-shm",
             "outbox.sqlite3", "outbox.sqlite3-wal", "outbox.sqlite3-shm"}


def state_directory(where: Path) -> Path:
    shutil.copytree(MAIN_STATE, where, ignore=shutil.ignore_patterns("*.json"))
    return where


@pytest.fixture
def on(monkeypatch):
    """The journal as `roomscribe run` builds it from a configuration on a state directory (not started)."""
    def journal(state: Path, **config) -> Journal:
        monkeypatch.setenv("STATE_DIRECTORY", str(state))
        return Journal.from_settings(settings_from_data({"room": "boardroom", **config}), retry_s=0.2)

    return journal


def test_a_state_directory_written_by_main_is_taken_in_whole(tmp_path, on):
    state = state_directory(tmp_path / "var-lib-roomscribe")
    assert OLD_FILES <= {p.name for p in state.iterdir()}  # as the killed daemon left it: hot WAL files
    journal = on(state).start()
    try:
        assert journal.flush() and journal.health.ok
        # Undelivered utterances first, in the outbox's order, with their original identity and payload.
        assert waiting_on_disk(state / "journal.sqlite3") == [tuple(w) for w in EXPECTED["waiting"]]
        assert [json.loads(p.payload) for p in journal.deliveries.pending()] == [
            next(u for u in EXPECTED["meetings"][m] if u["seq"] == seq) for m, seq in EXPECTED["waiting"]]
        assert len(journal.deliveries) == len(EXPECTED["waiting"])
    finally:
        journal.close()
    assert {p.name for p in state.iterdir()} == {"journal.sqlite3"}  # the old files are gone, and only they
    with JournalReader(state / "journal.sqlite3") as reader:
        meetings = {m.id: m for m in reader.meetings()}
        assert set(meetings) == set(EXPECTED["meetings"])
        for meeting_id, payloads in EXPECTED["meetings"].items():
            # As that version published them; fields that came later are there at their defaults (5545b0b knew
            # nothing of clock synchronisation: its utterances count as synchronised, as they were taken to be).
            assert [{k: v for k, v in u.to_payload().items() if k in p} for u, p in
                    zip(reader.utterances(meeting_id), payloads)] == payloads
        ended = reader.record("m-ended")
        assert ended.meeting.end is not None and ended.meeting.paused_seconds == 120.0
        assert ended.meeting.audio_seconds == 33.5 and [e for e, _ in ended.epochs] == [1, 2]
        assert len(ended.pauses) == 1
        assert meetings["m-killed"].running  # the old daemon died in it; the next start of the owner ends it


def test_taking_in_twice_changes_nothing(tmp_path, on):
    """A crash after the journal's commit and before the old files went: the next start takes them again."""
    state = state_directory(tmp_path / "var-lib-roomscribe")
    copy = state_directory(tmp_path / "copy")
    on(state).start().close()
    for name in OLD_FILES:  # the old files back, as if their removal never happened
        shutil.copy(copy / name, state / name)
    on(state).start().close()
    with JournalReader(state / "journal.sqlite3") as reader:
        assert sum(m.utterances for m in reader.meetings()) == sum(len(u) for u in EXPECTED["meetings"].values())
    assert waiting_on_disk(state / "journal.sqlite3") == [tuple(w) for w in EXPECTED["waiting"]]


def test_deprecated_paths_name_the_old_files_and_the_journal_goes_beside_them(tmp_path):
    elsewhere = state_directory(tmp_path / "data")
    journal = Journal.from_settings(settings_from_data({
        "mqtt": {"outbox_path": str(elsewhere / "outbox.sqlite3")}, "archive": {"path": str(elsewhere / "archive.sqlite3")}}))
    assert journal.path == elsewhere / "journal.sqlite3"
    journal.start().close()
    assert {p.name for p in elsewhere.iterdir()} == {"journal.sqlite3"}


def test_with_the_record_off_the_outbox_is_taken_in_and_the_archive_left_alone(tmp_path, on):
    state = state_directory(tmp_path / "var-lib-roomscribe")
    on(state, archive={"enabled": False}).start().close()
    assert {p.name for p in state.iterdir()} >= {"journal.sqlite3", "archive.sqlite3"}
    assert not (state / "outbox.sqlite3").exists()
    assert waiting_on_disk(state / "journal.sqlite3") == [tuple(w) for w in EXPECTED["waiting"]]


def test_a_garbage_outbox_is_set_aside_and_the_archive_still_taken_in(tmp_path, on):
    state = state_directory(tmp_path / "var-lib-roomscribe")
    for suffix in ("", "-wal", "-shm"):
        (state / f"outbox.sqlite3{suffix}").unlink()
    (state / "outbox.sqlite3").write_bytes(os.urandom(8192))
    reports = []
    journal = on(state)
    journal.set_health_handler(reports.append)
    journal.start().close()
    assert [p.name for p in state.glob("outbox.sqlite3.corrupt-*")]  # quarantined, not deleted
    assert [r.event.kind for r in reports if r.event] == ["storage_quarantined"]
    assert not (state / "outbox.sqlite3").exists() and not (state / "archive.sqlite3").exists()
    with JournalReader(state / "journal.sqlite3") as reader:
        assert {m.id for m in reader.meetings()} == set(EXPECTED["meetings"])


@needs_root
def test_a_full_disk_keeps_the_old_files_until_the_journal_can_hold_them(tmp_path, on):
    with Tmpfs(tmp_path / "state", size_kib=1024) as disk:
        state = state_directory(disk.path / "rs")
        disk.fill()
        journal = on(state).start()
        try:
            journal.flush()
            assert not journal.health.ok
            assert OLD_FILES <= {p.name for p in state.iterdir()}  # nothing removed, nothing moved aside
            assert not list(state.glob("*.corrupt-*"))
            disk.free()
            deadline = time.monotonic() + 10
            while not journal.health.ok:  # tried again every retry_s (0.2 s here)
                assert time.monotonic() < deadline, journal.health
                time.sleep(0.05)
        finally:
            journal.close()
        assert not {p.name for p in state.iterdir()} & OLD_FILES
        assert waiting_on_disk(state / "journal.sqlite3") == [tuple(w) for w in EXPECTED["waiting"]]


def test_the_old_files_really_are_of_the_old_format():
    """The fixture is what 5545b0b wrote: its two schemas, and commits still in the WAL (a power cut)."""
    for name, table in (("archive.sqlite3", "meetings"), ("outbox.sqlite3", "outbox")):
        assert (MAIN_STATE / f"{name}-wal").stat().st_size > 0
        with sqlite3.connect(f"file:{MAIN_STATE / name}?mode=ro&immutable=1", uri=True) as db:
            assert db.execute("PRAGMA application_id").fetchone()[0] == 0
        with pytest.raises(sqlite3.OperationalError):  # without the WAL the tables are not even there yet
            sqlite3.connect(f"file:{MAIN_STATE / name}?mode=ro&immutable=1", uri=True).execute(
                f"SELECT COUNT(*) FROM {table}")
