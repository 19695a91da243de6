"""`roomscribe name` when no daemon holds the journal (it writes the journal itself), and when one does but
cannot be reached (it never writes then). Through a running daemon: tests/app/test_daemon_names.py."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from roomscribe import cli
from roomscribe.outputs.journal.journal import Journal
from roomscribe.outputs.journal.reader import JournalReader
from roomscribe.system import exitcodes
from tests.outputs.archive.meetings import ROOM, record_meeting
from tests.support.journal import JournalUnderTest
from tests.support.mosquitto import free_port

DONE = "3f2a9c1e-6b1d-4c7e-9a55-0d6f4b8e2a10"
V1 = Path(__file__).resolve().parents[1] / "journal" / "data" / "journal-v1"


@pytest.fixture
def journal(tmp_path) -> Path:
    path = tmp_path / "journal.sqlite3"
    with JournalUnderTest(path) as store:
        record_meeting(store, DONE, n=12)  # Guest-1 and Guest-2; speaker epoch 2 from the 9th line
    return path


def names(path: Path, meeting_id: str = DONE) -> dict:
    with JournalReader(path) as reader:
        return {(epoch, label): name for epoch, label, name in reader.meeting(meeting_id).names}


def name(path: Path, *words: str) -> int:
    return cli.main(["name", "--journal", str(path), *words])


def test_without_a_daemon_it_names_in_the_journal_itself(journal, capsys):
    assert name(journal, DONE[:8], "Guest-1", "Alice Smith") == exitcodes.OK
    assert "Guest-1 of speaker epoch 2 in meeting 3f2a9c1e" in capsys.readouterr().out  # the meeting's last epoch
    assert name(journal, "last", "Guest-2", "  Bob ", "--epoch", "1", "--json") == exitcodes.OK
    answer = json.loads(capsys.readouterr().out)
    assert answer == {"kind": "speaker_named", "detail": {"meeting_id": DONE, "speaker_epoch": 1, "speaker": "Guest-2",
                                                          "name": "Bob", "previous": None, "running": False}}
    assert names(journal) == {(2, "Guest-1"): "Alice Smith", (1, "Guest-2"): "Bob"}
    assert name(journal, "last", "Guest-2", "--epoch", "1", "--remove") == exitcodes.OK
    assert "has no name now (was Bob)" in capsys.readouterr().out
    assert names(journal) == {(2, "Guest-1"): "Alice Smith"}


@pytest.mark.parametrize("words, code, said", [
    (("last", "Guest-7", "Eve"), exitcodes.FAILURE, "refused: unknown speaker: Guest-7 has not spoken"),
    (("0000", "Guest-1", "Eve"), exitcodes.FAILURE, "refused: unknown meeting"),
    (("Guest-1", "Eve"), exitcodes.FAILURE, "refused: unknown meeting: current: no meeting is running"),
    (("last", "Guest-1", "x" * 101), exitcodes.USAGE, "at most 100"),
    (("last", "Guest-1", "Eve\tEve"), exitcodes.USAGE, "control characters"),
    (("last", "Guest-1", " "), exitcodes.USAGE, "the name is empty: give one, or --remove"),
    (("Guest-1", "Alice", "Smith"), exitcodes.USAGE, "quote a name with spaces"),
    (("Unknown", "Eve"), exitcodes.USAGE, "Unknown is no voice"),
    (("a", "b", "c", "d"), exitcodes.USAGE, "give [MEETING] SPEAKER NAME"),
])
def test_what_it_cannot_name_it_refuses_and_changes_nothing(journal, capsys, words, code, said):
    assert name(journal, *words) == code
    out = capsys.readouterr()
    assert said in out.out + out.err
    assert names(journal) == {}


def test_a_journal_of_the_previous_schema_is_upgraded_and_named(tmp_path, capsys):
    shutil.copytree(V1, tmp_path / "v1", ignore=shutil.ignore_patterns("*.json"))
    path = tmp_path / "v1" / "journal.sqlite3"
    assert name(path, "m-ended", "Guest-2", "Bob", "--epoch", "1") == exitcodes.OK
    assert names(path, "m-ended") == {(1, "Guest-2"): "Bob"}


def test_while_a_daemon_holds_the_journal_it_asks_the_daemon_and_never_writes(journal, tmp_path, capsys):
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"room": ROOM, "journal": {"path": str(journal)},
                                      "mqtt": {"host": "127.0.0.1", "port": free_port()}}))
    daemon = Journal(journal, room=ROOM).start()  # the daemon's writer: it holds the journal
    try:
        assert daemon.flush()
        assert cli.main(["name", "-c", str(config), "--timeout", "1", "last", "Guest-1", "Alice"]) == \
            exitcodes.UNAVAILABLE
        assert "cannot connect to the MQTT broker" in capsys.readouterr().err
    finally:
        daemon.close()
    assert names(journal) == {}
    assert cli.main(["name", "-c", str(config), "last", "Guest-1", "Alice"]) == exitcodes.OK  # stopped: written here
    assert names(journal) == {(2, "Guest-1"): "Alice"}
