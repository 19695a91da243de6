"""The page's server on its own (outputs/web/): a real aiohttp server on a free port, a real archive.

The records are handed to `WebOutput` as the owner's fan-out would hand them; the daemon end to end, with
a real browser, is in tests/app/test_daemon_web.py.
"""

from __future__ import annotations

import http.client
import io
import json
import socket
import threading
import time

import pytest
import srt
import webvtt

from roomscribe.core.names import SpeakerNaming
from roomscribe.core.records import Event, StateMessage
from roomscribe.outputs.mqtt.commands import Command
from roomscribe.outputs.web.auth import Tokens
from roomscribe.outputs.web.history import JournalHistory
from roomscribe.outputs.web.output import WebOutput
from tests.outputs.archive.meetings import ROOM, T0, record_meeting, utterance
from tests.support.mosquitto import free_port
from tests.support.web_page import SseReader
from tests.support.journal import JournalUnderTest

DONE, LIVE = "3f2a9c1e-6b1d-4c7e-9a55-0d6f4b8e2a10", "77aa0000-1111-2222-3333-444455556666"
ACCESS, COMMAND = "access-token-0123456789", "command-token-0123456789"


@pytest.fixture
def archive(tmp_path):
    path = tmp_path / "journal.sqlite3"
    store = JournalUnderTest(path)
    record_meeting(store, DONE, n=12)
    record_meeting(store, LIVE, start=T0 + 86400, n=3, end=False)
    yield path, store
    store.close()


@pytest.fixture
def serve(archive):
    started: list[WebOutput] = []

    def start(tokens: Tokens = Tokens(), history: bool = True, **options) -> WebOutput:
        output = WebOutput(room=ROOM, host="127.0.0.1", port=free_port(), tokens=tokens,
                           history=JournalHistory(archive[0]) if history else None, **options)
        output.start()
        assert output.listening.wait(10), output.failed
        started.append(output)
        return output

    yield start
    for output in started:
        output.stop()


def live_state(name: str = "transcribing", request_id: str | None = None) -> StateMessage:
    return StateMessage(state=name, since=T0 + 86400, meeting_id=LIVE if name != "idle" else None, speaker_epoch=1,
                        request_id=request_id, detail="", room=ROOM, audio="flowing")


def request(output: WebOutput, method: str, path: str, *, body: bytes | None = None, headers: dict | None = None):
    connection = http.client.HTTPConnection("127.0.0.1", output.port, timeout=15)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def utterance_seqs(feed: SseReader) -> list[tuple[str, int]]:
    return [(e.data["meeting_id"], e.data["seq"]) for e in feed.of("utterance")]


# -- the feed: the meeting so far, then live, once each ------------------------------------------------------


def test_a_page_gets_the_meeting_so_far_then_live_with_no_gap_and_no_duplicate(serve, archive):
    _, store = archive
    output = serve()
    output.publish_event(Event("meeting_started", {"meeting_id": LIVE}, at=T0 + 86400, room=ROOM))
    output.publish_state(live_state())
    output.set_speech_connected(True)
    page = SseReader("127.0.0.1", output.port)
    page.wait_for(lambda f: len(f.of("utterance")) == 3, what="the meeting so far")
    hello = page.of("hello")[0].data
    assert hello["status"]["meeting"] == {"id": LIVE, "start": T0 + 86400}
    assert hello["status"]["banner"]["kind"] == "live" and hello["history"] is True and hello["controls"] is False
    # Live: the journal hands an utterance over once it stored it. A live copy of one the page has
    # already been sent (an overlap with its catch-up read) is not sent again.
    fourth = utterance(LIVE, 4, T0 + 86500)
    store.add_utterance(fourth)
    for u in (utterance(LIVE, 3, T0 + 86413), fourth):
        output.stored([u])
    page.wait_for(lambda f: len(f.of("utterance")) >= 4, what="the live utterance")
    assert [e.id for e in page.of("utterance")] == [f"{LIVE}:{seq}" for seq in (1, 2, 3, 4)]
    # A reconnect names the last one it has: only what came after it. One of an older meeting (the daemon
    # restarted in between): the running meeting from its start.
    again = SseReader("127.0.0.1", output.port, last_event_id=f"{LIVE}:2")
    other = SseReader("127.0.0.1", output.port, last_event_id=f"{DONE}:7")
    for reader in (again, other):
        reader.wait_for(lambda f: f.of("hello"), what="hello")
    time.sleep(0.3)
    assert utterance_seqs(again) == [(LIVE, 3), (LIVE, 4)]
    assert utterance_seqs(other) == [(LIVE, s) for s in (1, 2, 3, 4)]
    # The state goes to every open page, with its banner; stopping the server ends the feeds.
    output.publish_state(live_state("paused"))
    for reader in (page, again, other):
        reader.wait_for(lambda f: f.of("status") and f.of("status")[-1].data["banner"]["kind"] == "paused",
                        what="the paused banner")
    output.stop()
    for reader in (page, again, other):
        assert reader.closed.wait(5)
        reader.close()


def test_without_the_archive_the_page_is_told_what_it_misses(serve):
    output = serve(history=False)
    output.publish_state(live_state())
    page = SseReader("127.0.0.1", output.port)
    notice = page.wait_for(lambda f: f.of("notice"), what="the notice")[0]
    assert "archive is switched off" in notice.data["detail"] and page.of("hello")[0].data["history"] is False
    assert request(output, "GET", "/api/meetings")[0] == 503
    page.close()


# -- past meetings and exports ----------------------------------------------------------------------------------


def test_past_meetings_and_every_export_format(serve):
    output = serve()
    status, _, body = request(output, "GET", "/api/meetings")
    meetings = json.loads(body)["meetings"]
    assert status == 200 and [m["meeting_id"] for m in meetings] == [LIVE, DONE]  # newest first
    status, _, body = request(output, "GET", f"/api/meetings/{DONE[:8]}")
    shown = json.loads(body)
    assert status == 200 and shown["meeting"]["meeting_id"] == DONE and len(shown["utterances"]) == 12
    downloads = {}
    for fmt in ("txt", "md", "jsonl", "vtt", "srt"):
        status, headers, body = request(output, "GET", f"/api/meetings/{DONE}/export/{fmt}?tz=Europe/Berlin")
        assert status == 200, body
        assert headers["Content-Disposition"] == f'attachment; filename="roomscribe-{ROOM}-{DONE[:8]}.{fmt}"'
        downloads[fmt] = body.decode("utf-8")
    assert "CET (UTC+01:00)" in downloads["txt"]  # the reader's zone, as the page asks for it
    assert len(webvtt.from_buffer(io.StringIO(downloads["vtt"]))) >= 12
    assert len([c for c in srt.parse(downloads["srt"]) if "Guest" in c.content]) == 12
    assert [json.loads(line)["record"] for line in downloads["jsonl"].splitlines()].count("utterance") == 12
    assert request(output, "GET", f"/api/meetings/{DONE}/export/pdf")[0] == 404
    assert request(output, "GET", f"/api/meetings/{DONE}/export/txt?tz=Mars/Olympus")[0] == 400
    status, _, body = request(output, "GET", "/api/meetings/ffff0000/export/txt")
    assert status == 404 and "no such meeting" in json.loads(body)["error"]


# -- who may read, who may command -------------------------------------------------------------------------------


def test_on_loopback_without_a_token_only_loopback_names_are_answered(serve):
    output = serve()
    status, headers, body = request(output, "GET", "/", headers={"Host": f"localhost:{output.port}"})
    assert status == 200 and b"<title>roomscribe</title>" in body
    assert "script-src 'self'" in headers["Content-Security-Policy"] and headers["X-Frame-Options"] == "DENY"
    # A site that rebinds its own name to 127.0.0.1 gets nothing.
    assert request(output, "GET", "/api/meetings", headers={"Host": "attacker.example"})[0] == 403
    assert request(output, "GET", "/static/app.js", headers={"Host": f"attacker.example:{output.port}"})[0] == 403
    # And without a command token the controls are off.
    status, _, body = request(output, "POST", "/api/commands/pause")
    assert status == 403 and "web.command_token" in json.loads(body)["error"]


def test_with_an_access_token_nothing_is_read_without_it(serve):
    output = serve(Tokens(access=ACCESS, command=COMMAND))
    for path in ("/", "/static/app.js", "/api/feed", "/api/meetings", f"/api/meetings/{DONE}/export/txt"):
        status, headers, _ = request(output, "GET", path, headers={"Host": "room-pc.local"})
        assert status == 401 and headers["WWW-Authenticate"].startswith("Bearer"), path
    assert request(output, "GET", "/api/meetings", headers={"Authorization": f"Bearer {COMMAND}"})[0] == 401
    # Opened once with the token in the address: it moves into an HttpOnly cookie and out of the address.
    status, headers, _ = request(output, "GET", f"/?large=1&access_token={ACCESS}")
    assert status == 303 and headers["Location"] == "/?large=1"
    cookie = headers["Set-Cookie"]
    assert cookie.startswith(f"roomscribe_access={ACCESS};") and "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert request(output, "GET", "/", headers={"Cookie": f"roomscribe_access={ACCESS}"})[0] == 200
    assert request(output, "GET", "/api/meetings", headers={"Authorization": f"Bearer {ACCESS}"})[0] == 200
    page = SseReader("127.0.0.1", output.port, headers={"Cookie": f"roomscribe_access={ACCESS}"})
    page.wait_for(lambda f: f.of("hello"), what="hello")
    assert page.of("hello")[0].data["controls"] is True
    page.close()
    # Reading is not commanding: the access token (or its cookie) does not command.
    for headers in ({"Authorization": f"Bearer {ACCESS}"}, {"Cookie": f"roomscribe_access={COMMAND}"}, {}):
        assert request(output, "POST", "/api/commands/pause", headers=headers)[0] == 401


class Owner:
    """Answers commands as the daemon does: the state carrying the request_id, or a refusal event."""

    def __init__(self, output: WebOutput, answer: bool = True):
        self.output = output
        self.answer = answer
        self.commands: list[Command] = []
        output.set_command_handler(self.on_command)

    def on_command(self, command: Command) -> None:
        self.commands.append(command)
        if not self.answer:
            return
        if command.name == "pause":
            threading.Timer(0.05, self.output.publish_state, [live_state("paused", command.request_id)]).start()
        else:
            threading.Timer(0.05, self.output.publish_event, [Event(
                "command_refused", {"command": command.name, "reason": "the meeting is ending"}, at=T0, room=ROOM,
                request_id=command.request_id, level="warning")]).start()


def test_a_command_with_the_token_goes_to_the_owner_and_is_answered_with_what_it_publishes(serve):
    output = serve(Tokens(command=COMMAND))
    owner = Owner(output)
    bearer = {"Authorization": f"Bearer {COMMAND}"}
    status, _, body = request(output, "POST", "/api/commands/pause", headers=bearer)
    answer = json.loads(body)
    assert status == 200 and answer["state"]["state"] == "paused" and answer["request_id"].startswith("web-")
    assert owner.commands == [Command("pause", answer["request_id"])]
    status, _, body = request(output, "POST", "/api/commands/resume", body=b'{"request_id": "panel-7"}', headers=bearer)
    assert status == 409 and json.loads(body)["refused"]["detail"]["reason"] == "the meeting is ending"
    assert owner.commands[-1] == Command("resume", "panel-7")
    # The MQTT commands' own parser: the same refusals, and nothing reaches the owner.
    for payload, reason in ((b'{"request_id": 5}', "request_id must be a string"), (b"[]", "JSON object"),
                            (b'{"pause": true}', "unknown keys"), (b"x" * 5000, "too large")):
        status, _, body = request(output, "POST", "/api/commands/pause", body=payload, headers=bearer)
        assert status == 400 and reason in json.loads(body)["error"], payload
    assert request(output, "POST", "/api/commands/reboot", headers=bearer)[0] == 404
    assert request(output, "GET", "/api/commands/pause", headers=bearer)[0] == 405
    assert len(owner.commands) == 2


class Namer:
    """Answers names as the daemon does: `speaker_named` for Guest-1, a refusal for anyone else."""

    def __init__(self, output: WebOutput):
        self.output = output
        self.named: list[SpeakerNaming] = []
        output.set_command_handler(self.on_command)

    def on_command(self, naming: SpeakerNaming) -> None:
        self.named.append(naming)
        if naming.speaker == "Guest-1":
            kind, detail, level = "speaker_named", {"meeting_id": LIVE, "speaker_epoch": 1, "speaker": "Guest-1",
                                                    "name": naming.name, "previous": None, "running": True}, "info"
        else:
            kind, detail, level = "command_refused", {"command": "name", "reason": "unknown speaker"}, "warning"
        event = Event(kind, detail, at=T0, room=ROOM, request_id=naming.request_id, level=level)
        threading.Timer(0.05, self.output.publish_event, [event]).start()


def test_naming_from_the_page_needs_the_command_token_and_is_answered_by_the_daemons_event(serve):
    body = json.dumps({"speaker": "Guest-1", "name": "Alice", "meeting_id": LIVE, "speaker_epoch": 1}).encode()
    without = serve()  # no command token configured: the controls are off
    assert request(without, "POST", "/api/commands/name", body=body)[0] == 403
    output = serve(Tokens(command=COMMAND))
    namer = Namer(output)
    for headers in ({}, {"Authorization": "Bearer wrong-token-0123456789"}, {"Authorization": f"Basic {COMMAND}"}):
        assert request(output, "POST", "/api/commands/name", body=body, headers=headers)[0] == 401
    assert namer.named == []
    bearer = {"Authorization": f"Bearer {COMMAND}"}
    status, _, answer = request(output, "POST", "/api/commands/name", body=body, headers=bearer)
    answer = json.loads(answer)
    assert status == 200 and answer["named"]["detail"]["name"] == "Alice" and answer["request_id"].startswith("web-")
    assert namer.named == [SpeakerNaming("Guest-1", "Alice", LIVE, 1, answer["request_id"])]
    refused = json.dumps({"speaker": "Guest-9", "name": "Eve", "request_id": "page-9"}).encode()
    status, _, answer = request(output, "POST", "/api/commands/name", body=refused, headers=bearer)
    assert status == 409 and json.loads(answer)["refused"]["detail"]["reason"] == "unknown speaker"
    for payload, reason in ((b'{"speaker": "Guest-1", "name": ""}', "name is empty"),
                            (json.dumps({"speaker": "Guest-1", "name": "a\nb"}).encode(), "control characters"),
                            (json.dumps({"speaker": "Guest-1", "name": "x" * 101}).encode(), "at most 100"),
                            (b'{"speaker": "Guest-1"}', "no 'name'")):
        status, _, answer = request(output, "POST", "/api/commands/name", body=payload, headers=bearer)
        assert status == 400 and reason in json.loads(answer)["error"], payload
    assert len(namer.named) == 2


def test_a_command_nobody_answers_times_out(serve):
    output = serve(Tokens(command=COMMAND), command_answer_s=0.3)
    Owner(output, answer=False)
    status, _, body = request(output, "POST", "/api/commands/start", headers={"Authorization": f"Bearer {COMMAND}"})
    assert status == 504 and "no answer" in json.loads(body)["error"]


def test_a_port_in_use_leaves_the_daemon_without_the_page_and_nothing_else(archive, caplog):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        output = WebOutput(room=ROOM, host="127.0.0.1", port=taken.getsockname()[1], tokens=Tokens(), history=None)
        output.start()
        output.publish_state(live_state())  # records keep coming: they are dropped, never raised
        deadline = time.monotonic() + 10
        while output.failed is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert output.failed and "in use" in output.failed and not output.listening.is_set()
        output.publish_state(live_state())
        output.stop()
    assert any("cannot listen" in r.getMessage() and "web.port" in r.getMessage() for r in caplog.records)


PROBE = """
import sys, urllib.request
from roomscribe.outputs.web.auth import Tokens
from roomscribe.outputs.web.output import WebOutput
output = WebOutput(room="r", host="127.0.0.1", port=int(sys.argv[1]), tokens=Tokens(), history=None)
output.start()
assert output.listening.wait(10), output.failed
before = "aiohttp" in sys.modules
status = urllib.request.urlopen(output.url, timeout=10).status
print(before, "aiohttp" in sys.modules, status)
output.stop()
"""


def test_aiohttp_is_loaded_only_when_someone_opens_the_page():
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", PROBE, str(free_port())], capture_output=True, text=True, timeout=60)
    assert done.stdout.split() == ["False", "True", "200"], done.stderr
