"""The page's own behaviour in a real browser (Debian's chromium), fed by the real server and a real archive.

Names in place of labels, auto-scroll that yields to a reader who scrolled up, search, past meetings with
their downloads, large type and a phone's width. The records are handed to `WebOutput` as the owner would;
the page against the whole daemon is tests/app/test_daemon_web.py.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import pytest
from playwright.sync_api import sync_playwright

from roomscribe.core.records import Event, SpeakerMap, StateMessage, Utterance
from roomscribe.outputs.web.auth import Tokens
from roomscribe.outputs.web.history import JournalHistory
from roomscribe.outputs.web.output import WebOutput
from tests.outputs.archive.meetings import ROOM, T0, record_meeting, utterance
from tests.support.mosquitto import free_port
from tests.support.web_page import launch_chromium
from tests.support.journal import JournalUnderTest

DONE, LIVE = "3f2a9c1e-6b1d-4c7e-9a55-0d6f4b8e2a10", "77aa0000-1111-2222-3333-444455556666"


@dataclass(frozen=True)
class Named:
    """An utterance that carries a name, as utterances will once speakers can be named."""

    utterance: Utterance
    name: str

    @property
    def meeting_id(self) -> str:
        return self.utterance.meeting_id

    @property
    def seq(self) -> int:
        return self.utterance.seq

    def to_payload(self) -> dict:
        return {**self.utterance.to_payload(), "speaker_name": self.name}


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as playwright:
        chromium = launch_chromium(playwright)
        yield chromium
        chromium.close()


@pytest.fixture
def context(browser):
    """One browser context (its own storage) per test; its pages are tabs of one window."""
    made = browser.new_context(viewport={"width": 1000, "height": 700})
    yield made
    made.close()


@pytest.fixture
def room(tmp_path):
    """A server with one past meeting in the archive and one running, its first three lines stored."""
    store = JournalUnderTest(tmp_path / "journal.sqlite3")
    record_meeting(store, DONE, n=12)
    record_meeting(store, LIVE, start=T0 + 86400, n=3, end=False)
    output = WebOutput(room=ROOM, host="127.0.0.1", port=free_port(), tokens=Tokens(),
                       history=JournalHistory(store.path))
    output.start()
    assert output.listening.wait(10)
    output.publish_event(Event("meeting_started", {"meeting_id": LIVE}, at=T0 + 86400, room=ROOM))
    output.publish_state(StateMessage(state="transcribing", since=T0 + 86400, meeting_id=LIVE, speaker_epoch=1,
                                      request_id=None, detail="", room=ROOM, audio="flowing"))
    output.set_speech_connected(True)
    yield output, store
    output.stop()
    store.close()


def say(output: WebOutput, store: JournalUnderTest, seq: int, **fields) -> Utterance:
    """As the journal does it: stored first, then handed to the page."""
    u = utterance(LIVE, seq, T0 + 86400 + 5 * seq, **fields)
    store.add_utterance(u)
    output.stored([u])
    return u


def until(page, expression: str, timeout: float = 10.0) -> None:
    """Polls a JavaScript expression with page.evaluate (which the page's Content-Security-Policy allows;
    Playwright's wait_for_function polls with eval, which it rightly forbids)."""
    deadline = time.monotonic() + timeout
    while not page.evaluate(expression):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {expression}")
        time.sleep(0.03)


def open_page(context, output: WebOutput, query: str = ""):
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(output.url + query)
    until(page, "document.querySelectorAll('#lines li.line').length >= 3")
    return page, errors


def shown_speakers(page) -> list[str]:
    return page.eval_on_selector_all("#lines li.line .who", "els => els.map(e => e.textContent)")


def test_names_replace_labels_when_given(context, room):
    output, store = room
    page, errors = open_page(context, output)
    assert shown_speakers(page) == ["Guest-2", "Guest-1", "Guest-2"]
    output.stored([Named(utterance(LIVE, 4, T0 + 86500, speaker="Guest-1"), "Alice")])
    until(page, "document.querySelectorAll('#lines li.line').length === 4")
    assert shown_speakers(page)[-1] == "Alice"
    output.publish_speakers(SpeakerMap(ROOM, LIVE, 1, ((1, "Guest-2", "Bob"),)))
    until(page, "[...document.querySelectorAll('#lines .who')].some(e => e.textContent === 'Bob')")
    assert shown_speakers(page) == ["Bob", "Guest-1", "Bob", "Alice"]
    # A page that opens later gets the names with the meeting.
    later, _ = open_page(context, output)
    until(later, "document.querySelectorAll('#lines li.line').length === 3")
    assert shown_speakers(later) == ["Bob", "Guest-1", "Bob"]  # seq 4 came live only, never stored
    assert errors == []


def test_auto_scroll_yields_to_a_reader_who_scrolled_up_and_resumes_at_the_bottom(context, room):
    output, store = room
    page, errors = open_page(context, output)
    page.set_viewport_size({"width": 1000, "height": 500})
    for seq in range(4, 40):
        say(output, store, seq)
    until(page, "document.querySelectorAll('#lines li.line').length === 39")
    at_bottom = "(() => { const m = document.getElementById('transcript'); " \
                "return m.scrollHeight - m.scrollTop - m.clientHeight < 48; })()"
    assert page.evaluate(at_bottom)
    page.eval_on_selector("#transcript", "m => { m.scrollTop = 0; m.dispatchEvent(new Event('scroll')); }")
    for seq in range(40, 43):
        say(output, store, seq)
    until(page, "document.querySelectorAll('#lines li.line').length === 42")
    assert page.eval_on_selector("#transcript", "m => m.scrollTop") == 0  # the reader stays where they are
    assert page.is_visible("#jump") and page.text_content("#jump") == "3 new lines ↓"
    page.click("#jump")
    until(page, at_bottom)
    assert page.is_hidden("#jump")
    say(output, store, 43)
    until(page, "document.querySelectorAll('#lines li.line').length === 43")
    until(page, at_bottom)  # following again
    assert errors == []


def test_search_past_meetings_and_downloads(context, room):
    output, store = room
    page, errors = open_page(context, output)
    say(output, store, 4, text="The budget for travel is done.")
    until(page, "document.querySelectorAll('#lines li.line').length === 4")
    page.click("#search-toggle")
    page.fill("#search-input", "BUDGET")
    visible = page.eval_on_selector_all("#lines li.line:not([hidden]) .text", "els => els.map(e => e.textContent)")
    assert visible == ["The budget for travel is done."] and page.text_content("#search-count") == "1 line"
    assert page.text_content("#lines li.line:not([hidden]) mark") == "budget"
    page.fill("#search-input", "")
    assert page.eval_on_selector_all("#lines li.line:not([hidden])", "els => els.length") == 4
    page.click("#search-toggle")

    page.click("#meetings-toggle")
    until(page, "document.querySelectorAll('#meeting-list li').length === 2")
    links = page.eval_on_selector_all("#meeting-list li:last-child .downloads a", "els => els.map(a => a.textContent)")
    assert links == ["txt", "md", "jsonl", "vtt", "srt"]
    with page.expect_download() as download:
        page.click("#meeting-list li:last-child .downloads a:text('md')")
    assert download.value.suggested_filename == f"roomscribe-{ROOM}-{DONE[:8]}.md"
    assert "# Meeting minutes: boardroom" in open(download.value.path(), encoding="utf-8").read()
    page.click("#meeting-list li:last-child button.open")
    until(page, "document.querySelectorAll('#past-lines li.line').length === 12")
    assert page.is_hidden("#lines") and page.is_visible("#viewing")
    assert page.eval_on_selector_all("#past-lines li.divider", "els => els.length") == 1  # the new speaker epoch
    say(output, store, 5)  # the live meeting goes on underneath
    page.click("#back-live")
    until(page, "document.querySelectorAll('#lines li.line').length === 5")
    assert page.is_visible("#lines") and page.is_hidden("#past-lines")
    assert errors == []


def text_size(page) -> float:
    return page.eval_on_selector("#lines li.line .text", "e => parseFloat(getComputedStyle(e).fontSize)")


def test_large_type_and_a_phone(context, room):
    output, store = room
    page, errors = open_page(context, output)
    normal = text_size(page)
    page.click("#large-toggle")
    assert text_size(page) >= 1.8 * normal and page.get_attribute("#large-toggle", "aria-pressed") == "true"
    page.reload()  # the choice is kept on this device
    until(page, "document.querySelectorAll('#lines li.line').length >= 3")
    assert text_size(page) >= 1.8 * normal
    page.goto(output.url + "?large=0")  # a kiosk's address decides, whatever was chosen before
    until(page, "document.querySelectorAll('#lines li.line').length >= 3")
    assert text_size(page) == normal
    say(output, store, 4, text="A rather long sentence without a break " * 12)
    for width, height in ((390, 844), (844, 390)):
        page.set_viewport_size({"width": width, "height": height})
        until(page, "document.querySelectorAll('#lines li.line').length >= 4")
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), f"wider than {width} px"
        assert page.locator("#banner").bounding_box()["width"] <= width
        assert page.is_visible("#large-toggle") and page.is_visible("#meetings-toggle")
    assert errors == []
