"""The composition root and the journal: one file in the state directory, nothing opened before the
writer's thread starts, the record switched off, catch-up then unavailable."""

from __future__ import annotations

from roomscribe.app.run import build_journal
from roomscribe.config import settings_from_data
from roomscribe.config.storage import journal_path
from roomscribe.outputs.archive.responder import CatchUpResponder
from roomscribe.outputs.journal.journal import Journal
from roomscribe.outputs.journal.output import JournalOutput


class Link:
    topics = None

    def __init__(self):
        self.sent = []
        self.woken = 0

    def wake(self):
        self.woken += 1

    def publish_retained(self, topic, payload):
        self.sent.append((topic, payload))

    def publish_response(self, topic, payload, correlation_data=None):
        self.sent.append((topic, payload, correlation_data))


def test_by_default_one_journal_in_the_state_directory_opened_only_by_its_thread(tmp_path, monkeypatch):
    state = tmp_path / "var-lib-roomscribe"
    state.mkdir()
    monkeypatch.setenv("STATE_DIRECTORY", str(state))
    settings = settings_from_data({})
    assert journal_path(settings) == state / "journal.sqlite3"
    journal = Journal.from_settings(settings)
    output = build_journal(settings, Link(), journal)
    assert isinstance(output, JournalOutput) and not (state / "journal.sqlite3").exists()  # nothing yet
    output.start()
    try:
        assert journal.flush() and journal.health.ok
    finally:
        output.stop()
    assert sorted(p.name for p in state.iterdir()) == ["journal.sqlite3"]  # one file (its WAL gone at close)


def test_a_journal_that_cannot_be_opened_is_said_and_the_daemon_runs_on(tmp_path):
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    settings = settings_from_data({"journal": {"path": str(blocker / "journal.sqlite3")}, "room": "r"})
    journal = Journal.from_settings(settings)
    reports = []
    journal.set_health_handler(reports.append)
    output = build_journal(settings, Link(), journal)
    output.start()
    try:
        journal.flush()
        assert not journal.health.ok and "not-a-directory" in journal.health.detail
        assert [r.event.kind for r in reports if r.event] == ["storage_failed"]
    finally:
        output.stop()


def test_switched_off_catch_up_says_unavailable(tmp_path):
    link = Link()
    responder = CatchUpResponder(None, room="room", base_topic="meeting", publish=link.publish_response).start()
    responder.submit(b'{"request_id": "r1"}')
    responder.stop()
    [(topic, page, _)] = link.sent
    assert topic == "meeting/response/transcript" and b'"unavailable"' in page and b'"r1"' in page
