"""`roomscribe meetings | export | forget`, run the way cli.py runs a subcommand module."""

from __future__ import annotations

import argparse
import json
import os
import stat
import time

import pytest
import srt

from roomscribe.system import exitcodes
from roomscribe import cli
from roomscribe.outputs.archive import commands
from roomscribe.outputs.archive.export import FORMATS, export
from roomscribe.outputs.journal.reader import JournalReader
from tests.outputs.archive.meetings import ROOM, T0, record_meeting
from tests.support.journal import JournalUnderTest

DAY = 86400.0


def run(argv: list[str]) -> int:
    """The command line, as `roomscribe` runs it."""
    return cli.main(argv)


@pytest.fixture
def archive(tmp_path):
    path = tmp_path / "state" / "journal.sqlite3"
    with JournalUnderTest(path) as journal:
        record_meeting(journal, "3f2a9c1e-6b1d-4c7e-9a55-0d6f4b8e2a10", start=T0, n=12)
        record_meeting(journal, "3f2a9c1e-ffff-0000-0000-000000000000", start=T0 + DAY, n=3)
        record_meeting(journal, "77aa0000-running", start=T0 + 2 * DAY, n=2, end=False)
    return path


def meetings(path):
    with JournalReader(path) as reader:
        return reader.meetings()


def test_meetings_table_and_json(archive, capsys):
    assert run(["meetings", "--archive", str(archive)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:3] == ["ID", "START", "(UTC)"]
    assert lines[1].split()[:4] == ["3f2a9c1e-6", "2026-11-23", "09:30:00", "09:33:04"]
    assert "2+2" in lines[1] and "2 min 0 s" in lines[1]  # speakers per epoch; paused time
    assert "running" in lines[3]
    assert run(["meetings", "--archive", str(archive), "--json", "--since", "2026-11-24"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [m["meeting_id"] for m in listed] == ["3f2a9c1e-ffff-0000-0000-000000000000", "77aa0000-running"]
    assert listed[1]["end"] is None and listed[0]["utterances"] == 3


def test_the_short_id_in_the_table_exports_that_meeting(archive, capsys):
    run(["meetings", "--archive", str(archive)])
    short = capsys.readouterr().out.splitlines()[1].split()[0]
    assert run(["export", short, "--archive", str(archive)]) == 0
    assert "Meeting 3f2a9c1e-6b1d-4c7e-9a55-0d6f4b8e2a10" in capsys.readouterr().out


@pytest.mark.parametrize("fmt", FORMATS)
def test_export_to_a_file_matches_the_store(archive, tmp_path, fmt, capsys):
    out = tmp_path / f"minutes.{fmt}"
    assert run(["export", "3f2a9c1e-6b1d", "--format", fmt, "-o", str(out), "--archive", str(archive)]) == 0
    record = JournalReader(archive).record("3f2a9c1e-6b1d-4c7e-9a55-0d6f4b8e2a10")
    assert out.read_text(encoding="utf-8") == export(record, fmt)
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600
    assert "wrote meeting 3f2a9c1e-6b1d" in capsys.readouterr().err


def test_export_defaults_to_the_last_meeting_as_text_on_stdout(archive, capsys):
    assert run(["export", "--archive", str(archive)]) == 0
    assert capsys.readouterr().out.startswith("Meeting 77aa0000-running in boardroom")
    assert run(["export", "current", "--format", "srt", "--archive", str(archive)]) == 0
    assert len(list(srt.parse(capsys.readouterr().out))) == 2


def test_export_in_another_time_zone(archive, capsys):
    assert run(["export", "3f2a9c1e-6b1d", "--tz", "Europe/Berlin", "--archive", str(archive)]) == 0
    assert "10:30:00 – 10:33:04 CET (UTC+01:00)" in capsys.readouterr().out
    assert run(["export", "3f2a9c1e-6b1d", "--tz", "Mars/Olympus", "--archive", str(archive)]) == exitcodes.USAGE
    assert "unknown time zone" in capsys.readouterr().err


def test_unknown_and_ambiguous_meetings(archive, capsys):
    assert run(["export", "deadbeef", "--archive", str(archive)]) == exitcodes.NOINPUT
    assert "unknown meeting deadbeef" in capsys.readouterr().err
    assert run(["export", "3f2a", "--archive", str(archive)]) == exitcodes.USAGE
    err = capsys.readouterr().err
    assert "ambiguous" in err and "3f2a9c1e-ffff" in err


@pytest.mark.parametrize("where", ["missing-dir/out.txt", "."])
def test_an_unwritable_output_is_a_clear_error(archive, tmp_path, capsys, where):
    target = tmp_path / where
    assert run(["export", "last", "-o", str(target), "--archive", str(archive)]) == exitcodes.CANT_CREATE
    err = capsys.readouterr().err
    assert err.startswith(f"roomscribe: cannot write {target}") and "Traceback" not in err


def test_forget_then_export_says_the_meeting_is_unknown(archive, capsys):
    assert run(["forget", "3f2a9c1e-6b1d", "--archive", str(archive)]) == 0
    assert "deleted meeting 3f2a9c1e-6b1d-4c7e-9a55-0d6f4b8e2a10 of 2026-11-23 09:30:00 UTC, 12 utterances" in \
        capsys.readouterr().out
    assert run(["export", "3f2a9c1e-6b1d-4c7e-9a55-0d6f4b8e2a10", "--archive", str(archive)]) == exitcodes.NOINPUT
    assert "unknown meeting" in capsys.readouterr().err
    assert run(["forget", "3f2a9c1e-6b1d", "--archive", str(archive)]) == exitcodes.NOINPUT


def test_forget_older_than_and_all_with_a_dry_run_first(archive, capsys):
    age_days = (time.time() - T0) / DAY  # the fixture's meetings are at fixed dates, now is now
    if age_days < 1:
        pytest.skip("the fixture's first meeting lies in the future of this machine's clock")
    days = age_days - 0.5  # the first meeting ended earlier than this, the second later
    assert run(["forget", "--older-than", f"{days:.6f}", "--dry-run", "--json", "--archive", str(archive)]) == 0
    assert [m["meeting_id"] for m in json.loads(capsys.readouterr().out)] == ["3f2a9c1e-6b1d-4c7e-9a55-0d6f4b8e2a10"]
    assert len(meetings(archive)) == 3  # a dry run deletes nothing
    assert run(["forget", "--older-than", f"{days:.6f}", "--archive", str(archive)]) == 0
    assert [m.id for m in meetings(archive)] == [
        "3f2a9c1e-ffff-0000-0000-000000000000", "77aa0000-running"]
    capsys.readouterr()
    assert run(["forget", "--older-than", "-1", "--archive", str(archive)]) == exitcodes.USAGE
    assert run(["forget", "--all", "--archive", str(archive)]) == 0
    out = capsys.readouterr().out
    assert "77aa0000-running" in out and "running" in out
    assert meetings(archive) == []
    assert run(["forget", "--all", "--archive", str(archive)]) == 0
    assert "deleted nothing" in capsys.readouterr().out


def test_forget_needs_exactly_one_target(archive):
    with pytest.raises(SystemExit) as caught:
        run(["forget", "--archive", str(archive)])
    assert caught.value.code == exitcodes.USAGE  # the command line says 64 (sysexits), not argparse's 2
    with pytest.raises(SystemExit):
        run(["forget", "last", "--all", "--archive", str(archive)])


@pytest.mark.parametrize("empty", [False, True])
def test_no_journal_yet_or_an_empty_file_reads_as_no_meetings(tmp_path, capsys, empty):
    """The daemon on a full disk can leave an empty file: the commands read it as a journal without meetings."""
    path = tmp_path / "journal.sqlite3"
    if empty:
        path.write_bytes(b"")
    assert run(["meetings", "--journal", str(path)]) == exitcodes.OK
    out, err = capsys.readouterr()
    assert out == "no meetings\n" and "nothing recorded yet" in err
    assert run(["meetings", "--json", "--journal", str(path)]) == exitcodes.OK
    assert json.loads(capsys.readouterr().out) == []
    assert run(["export", "last", "--journal", str(path)]) == exitcodes.NOINPUT
    assert "the journal is empty" in capsys.readouterr().err
    assert run(["forget", "--all", "--journal", str(path)]) == exitcodes.OK
    assert "deleted nothing" in capsys.readouterr().out
    assert path.exists() == empty and (not empty or path.stat().st_size == 0)  # forget never writes one


@pytest.mark.parametrize("what", ["garbage", "old archive"])
def test_a_file_that_is_no_journal_is_reported_not_moved(tmp_path, capsys, what):
    import sqlite3

    bogus = tmp_path / "journal.sqlite3"
    if what == "garbage":
        bogus.write_bytes(b"not a database at all" * 50)
    else:  # an archive of roomscribe before the journal, given where the journal should be
        with sqlite3.connect(bogus) as db:
            db.execute("CREATE TABLE meetings (id TEXT PRIMARY KEY)")
            db.execute("PRAGMA user_version=1")
    before = bogus.read_bytes()
    for argv in (["meetings"], ["forget", "--all"]):
        assert run([*argv, "--journal", str(bogus)]) == exitcodes.IOERR
        assert "cannot read the journal" in capsys.readouterr().err
    assert bogus.read_bytes() == before and not list(tmp_path.glob("*.corrupt-*"))


def test_the_archive_path_comes_from_the_state_directory_with_a_config(archive, tmp_path, monkeypatch, capsys, caplog):
    config = tmp_path / "config.yaml"
    config.write_text(f"room: {ROOM}\n")
    monkeypatch.setenv("STATE_DIRECTORY", str(archive.parent))  # the journal's default place
    assert run(["meetings", "-c", str(config), "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)) == 3
    config.write_text("room: [not a room]\nnonsense: 1\n")
    assert run(["meetings", "-c", str(config)]) == exitcodes.CONFIG
    assert any("configuration error" in r.getMessage() and "room" in r.getMessage() for r in caplog.records)


def test_bad_since(archive, capsys):
    assert run(["meetings", "--since", "yesterday", "--archive", str(archive)]) == exitcodes.USAGE
    assert "--since 'yesterday'" in capsys.readouterr().err


def test_add_arguments_refuses_other_commands():
    with pytest.raises(ValueError):
        commands.add_arguments(argparse.ArgumentParser(prog="roomscribe run"))
