"""`roomscribe meetings | export | forget` through cli.py, finding the journal from the configuration."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import yaml

from roomscribe import cli
from roomscribe.system import exitcodes
from tests.outputs.archive.meetings import record_meeting
from tests.support.journal import JournalUnderTest

DAEMON = Path(__file__).resolve().parents[3] / "daemon"


def configured_archive(tmp_path: Path) -> tuple[Path, Path]:
    journal = tmp_path / "elsewhere" / "meetings.sqlite3"
    with JournalUnderTest(journal) as recording:
        record_meeting(recording, "3f2a9c1e-6b1d-4c7e-9a55-0d6f4b8e2a10", n=6)
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"room": "boardroom", "journal": {"path": str(journal)}}))
    return config, journal


def test_the_three_commands_use_the_configured_archive_and_forget_for_good(tmp_path, capsys):
    config, _ = configured_archive(tmp_path)
    assert cli.main(["meetings", "--json", "-c", str(config)]) == exitcodes.OK
    [listed] = json.loads(capsys.readouterr().out)
    assert listed["meeting_id"].startswith("3f2a9c1e") and listed["utterances"] == 6

    out = tmp_path / "minutes.md"
    assert cli.main(["export", "last", "--format", "md", "-o", str(out), "-c", str(config)]) == exitcodes.OK
    assert "# Meeting minutes: boardroom" in out.read_text()

    assert cli.main(["forget", "3f2a9c1e", "-c", str(config)]) == exitcodes.OK
    assert "3f2a9c1e" in capsys.readouterr().out  # it says what it deleted
    assert cli.main(["export", "3f2a9c1e", "--format", "txt", "-c", str(config)]) == exitcodes.NOINPUT
    assert "3f2a9c1e" in capsys.readouterr().err


def test_a_deprecated_archive_path_finds_the_journal_beside_it(tmp_path, capsys):
    """archive.path of an older configuration: the journal lives next to where the archive was."""
    _, journal = configured_archive(tmp_path)
    config = tmp_path / "old-config.yaml"
    config.write_text(yaml.safe_dump({"room": "boardroom", "archive": {"path": str(journal.parent / "archive.sqlite3")}}))
    journal.rename(journal.parent / "journal.sqlite3")
    assert cli.main(["meetings", "--json", "-c", str(config)]) == exitcodes.OK
    assert len(json.loads(capsys.readouterr().out)) == 1


def test_as_a_process_with_its_help_and_exit_codes(tmp_path):
    config, _ = configured_archive(tmp_path)

    def roomscribe(*args):
        return subprocess.run([sys.executable, "-m", "roomscribe", *args], capture_output=True, text=True,
                              timeout=60, env={"PYTHONPATH": str(DAEMON), "PATH": "/usr/bin:/bin"})

    done = roomscribe("export", "current", "--format", "jsonl", "-c", str(config))
    assert done.returncode == exitcodes.NOINPUT, done.stderr  # the meeting ended: there is no current one
    done = roomscribe("export", "last", "--format", "srt", "-c", str(config))
    assert done.returncode == exitcodes.OK and "-->" in done.stdout, done.stderr
    helped = roomscribe("export", "--help")
    assert "66  no such meeting" in helped.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text("archive:\n  retention_days: 0\n")
    done = roomscribe("meetings", "-c", str(bad))
    assert done.returncode == exitcodes.CONFIG and "retention_days" in done.stderr
