"""The page's own behaviour in a real browser (Debian's chromium), fed by the real server and a real archive.

Names in place of labels, auto-scroll that yields to a reader who scrolled up, search, past meetings with
their downloads, large type and a phone's width. The records are handed to `WebOutput` as the owner would;
the page against the whole daemon is tests/app/test_daemon_web.py.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import pytest

from roomscribe.core.records import Event, SpeakerMap, StateMessage, Utterance
from roomscribe.outputs.web.auth import Tokens
from roomscribe.outputs.web.history import JournalHistory
from roomscribe.outputs.web.output import WebOutput
from tests.outputs.archive.meetings import ROOM, T0, record_meeting, utterance
from tests.support.mosquitto import free_port
from tests.support.web_page import browser  # noqa: F401  (a fixture)
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


TOKEN = "page-naming-token-0123456"


class NamingOwner:
    """Takes names as the daemon does and publishes what it would: the meeting's voices with their names (the
    running one's, or a past one's), then the `speaker_named` event that answers the page."""

    def __init__(self, output: WebOutput):
        self.output = output
        self.named: list = []
        self.voices = {LIVE: {(1, "Guest-1"): None, (1, "Guest-2"): None},
                       DONE: {(e, f"Guest-{n}"): None for e in (1, 2) for n in (1, 2)}}
        output.set_command_handler(self.on_command)

    def on_command(self, naming) -> None:
        self.named.append(naming)
        voices = self.voices[naming.meeting_id]
        voices[(naming.speaker_epoch, naming.speaker)] = naming.name
        self.output.publish_speakers(SpeakerMap(ROOM, naming.meeting_id, 1 if naming.meeting_id == LIVE else None,
                                                tuple((e, label, n) for (e, label), n in voices.items()),
                                                running=naming.meeting_id == LIVE))
        detail = {"meeting_id": naming.meeting_id, "speaker_epoch": naming.speaker_epoch, "speaker": naming.speaker,
                  "name": naming.name, "previous": None, "running": naming.meeting_id == LIVE}
        self.output.publish_event(Event("speaker_named", detail, at=T0, room=ROOM, request_id=naming.request_id))


def test_a_click_on_a_speaker_names_the_voice_live_and_in_a_past_meeting(context, tmp_path):
    from roomscribe.core.names import SpeakerNaming

    store = JournalUnderTest(tmp_path / "journal.sqlite3")
    record_meeting(store, DONE, n=12)
    record_meeting(store, LIVE, start=T0 + 86400, n=3, end=False)
    output = WebOutput(room=ROOM, host="127.0.0.1", port=free_port(), tokens=Tokens(command=TOKEN),
                       history=JournalHistory(store.path))
    output.start()
    try:
        assert output.listening.wait(10)
        owner = NamingOwner(output)
        output.publish_event(Event("meeting_started", {"meeting_id": LIVE}, at=T0 + 86400, room=ROOM))
        output.publish_state(StateMessage(state="transcribing", since=T0 + 86400, meeting_id=LIVE, speaker_epoch=1,
                                          request_id=None, detail="", room=ROOM, audio="flowing"))
        reader, _ = open_page(context, output)  # no token in this tab: it shows, it cannot name
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(output.url + f"#command_token={TOKEN}")
        until(page, "document.querySelectorAll('#lines li.line').length >= 3")
        assert shown_speakers(page) == ["Guest-2", "Guest-1", "Guest-2"]

        page.click("#lines li.line:nth-child(1) .who")  # Guest-2
        assert page.is_visible("#naming") and page.text_content("#naming-label") == "Guest-2"
        page.fill("#naming-input", "  Bob <b>Builder</b> ")
        page.click("#naming-form button[type=submit]")
        for tab in (page, reader):  # every open page, live
            until(tab, "[...document.querySelectorAll('#lines .who')].filter(e => e.textContent === "
                       "'Bob <b>Builder</b>').length === 2")
            assert shown_speakers(tab) == ["Bob <b>Builder</b>", "Guest-1", "Bob <b>Builder</b>"]
        assert page.is_hidden("#naming") and "Guest-2 is Bob <b>Builder</b>." in page.text_content("#naming-result")
        assert page.eval_on_selector_all("#lines b", "els => els.length") == 0  # text, never markup
        [naming] = owner.named
        assert (naming.speaker, naming.name, naming.meeting_id, naming.speaker_epoch) == \
            ("Guest-2", "Bob <b>Builder</b>", LIVE, 1)
        assert naming.request_id.startswith("web-")
        say(output, store, 4, speaker="Guest-2")  # a later line of the voice carries the name
        until(page, "document.querySelectorAll('#lines li.line').length === 4")
        assert shown_speakers(page)[-1] == "Bob <b>Builder</b>"

        page.click("#lines li.line:nth-child(1) .who")
        assert page.input_value("#naming-input") == "Bob <b>Builder</b>"
        page.click("#naming-remove")
        until(page, "document.querySelector('#lines li.line .who').textContent === 'Guest-2'")
        assert isinstance(owner.named[-1], SpeakerNaming) and owner.named[-1].name is None
        page.click("#lines li.line:nth-child(2) .who")
        page.fill("#naming-input", "   ")
        page.click("#naming-form button[type=submit]")
        assert "Type a name" in page.text_content("#naming-result") and len(owner.named) == 2
        page.click("#naming-cancel")

        # A past meeting, opened from the list: named there, shown there.
        page.click("#meetings-toggle")
        until(page, "document.querySelectorAll('#meeting-list li').length === 2")
        page.click("#meeting-list li:last-child button.open")
        until(page, "document.querySelectorAll('#past-lines li.line').length === 12")
        page.click("#past-lines li.line[data-seq='9'] .who")  # Guest-2 of speaker epoch 2
        page.fill("#naming-input", "Carol")
        page.click("#naming-form button[type=submit]")
        until(page, "document.querySelector(\"#past-lines li.line[data-seq='9'] .who\").textContent === 'Carol'")
        past = page.eval_on_selector_all("#past-lines li.line", "els => els.map(li => [Number(li.dataset.seq), "
                                         "li.querySelector('.who').textContent])")
        assert [seq for seq, who in past if who == "Carol"] == [9, 11]  # epoch 2's Guest-2 only
        assert (owner.named[-1].meeting_id, owner.named[-1].speaker_epoch) == (DONE, 2)
        assert shown_speakers(reader)[0] == "Guest-2"  # the live meeting's voices are not the past one's

        # A page without the token asks for it first; and the server refuses a name without it (401).
        reader.click("#lines li.line:nth-child(1) .who")
        assert reader.is_hidden("#naming") and reader.is_visible("#controls")
        assert "Enter the command token to name voices" in reader.text_content("#command-result")
        status = reader.evaluate("""async () => (await fetch('/api/commands/name', {method: 'POST',
            body: JSON.stringify({speaker: 'Guest-1', name: 'Eve'})})).status""")
        assert status == 401 and len(owner.named) == 3
        assert errors == []
    finally:
        output.stop()
        store.close()
