"""The composition root and the archive: switched off, or unusable, the daemon runs on without it."""

from __future__ import annotations

import logging

from roomscribe.app.run import build_archive
from roomscribe.config import settings_from_data
from roomscribe.outputs.archive.output import ArchiveOutput
from roomscribe.outputs.archive.responder import CatchUpResponder


class Link:
    topics = None

    def __init__(self):
        self.sent = []

    def publish_retained(self, topic, payload):
        self.sent.append((topic, payload))

    def publish_response(self, topic, payload, correlation_data=None):
        self.sent.append((topic, payload, correlation_data))


def test_an_archive_that_cannot_be_opened_is_logged_and_left_out(tmp_path, caplog):
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    settings = settings_from_data({"archive": {"path": str(blocker / "archive.sqlite3")}})
    with caplog.at_level(logging.ERROR):
        assert build_archive(settings, Link()) is None
    assert "cannot be opened" in caplog.text and "running without it" in caplog.text


def test_switched_off_there_is_none_and_catch_up_says_unavailable(tmp_path):
    assert build_archive(settings_from_data({"archive": {"enabled": False}}), Link()) is None
    link = Link()
    responder = CatchUpResponder(None, room="room", base_topic="meeting", publish=link.publish_response).start()
    responder.submit(b'{"request_id": "r1"}')
    responder.stop()
    [(topic, page, _)] = link.sent
    assert topic == "meeting/response/transcript" and b'"unavailable"' in page and b'"r1"' in page


def test_on_by_default_it_lives_in_the_state_directory(tmp_path, monkeypatch):
    monkeypatch.setenv("STATE_DIRECTORY", str(tmp_path))
    settings = settings_from_data({})
    assert settings.archive.path == tmp_path / "archive.sqlite3" and settings.archive.retention_days == 30
    output = build_archive(settings, Link())
    try:
        assert isinstance(output, ArchiveOutput) and (tmp_path / "archive.sqlite3").exists()
    finally:
        output.stop()
