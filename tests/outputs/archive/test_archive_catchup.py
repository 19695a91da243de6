"""Catch-up requests: paging, following `more`, joining mid-meeting, and every kind of bad request."""

from __future__ import annotations

import json
import queue
import sqlite3
import threading
import time
from pathlib import Path

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from roomscribe.outputs.archive import catchup
from roomscribe.outputs.mqtt import payloads
from roomscribe.outputs.archive.catchup import MAX_REQUEST_BYTES, handle_request, parse_request
from roomscribe.outputs.journal.reader import JournalReader
from tests.outputs.archive.meetings import ROOM, T0, record_meeting, utterance
from tests.support.journal import JournalUnderTest

SCHEMA_DIR = Path(__file__).resolve().parents[3] / "daemon" / "roomscribe" / "schemas"


def schema(name: str) -> dict:
    return json.loads((SCHEMA_DIR / f"{name}.schema.json").read_text())


RESPONSE = jsonschema.Draft202012Validator(schema("transcript_response"), format_checker=jsonschema.FormatChecker())
REQUEST = jsonschema.Draft202012Validator(schema("transcript_request"))


def answer(payload, source, **options) -> list[dict]:
    pages = handle_request(payload if isinstance(payload, bytes) else json.dumps(payload).encode(), source,
                           room=ROOM, **options)
    documents = [json.loads(page) for page in pages]
    for document in documents:
        RESPONSE.validate(document)
    return documents


@pytest.fixture
def archive(tmp_path):
    with JournalUnderTest(tmp_path / "j.sqlite3") as journal:
        said = record_meeting(journal, "m-done", n=40)
        record_meeting(journal, "m-live", start=T0 + 86400, n=30, end=False)
    reader = JournalReader(tmp_path / "j.sqlite3")
    yield reader, said
    reader.close()


def test_the_utterance_items_are_the_transcript_schema():
    item = schema("transcript_response")["oneOf"][0]["properties"]["utterances"]["items"]
    transcript = schema("transcript")
    assert item["properties"] == transcript["properties"] and item["required"] == transcript["required"]


def test_pages_stay_under_the_limit_and_chain_by_seq(archive):
    source, said = archive
    pages = answer({"meeting_id": "m-done", "since_seq": 0, "request_id": "r-1"}, source, page_bytes=2048)
    assert len(pages) > 3
    raw = handle_request(b'{"meeting_id": "m-done", "request_id": "r-1"}', source, room=ROOM, page_bytes=2048)
    assert all(len(page) <= 2048 for page in raw)
    assert [p["more"] for p in pages] == [True] * (len(pages) - 1) + [False]
    assert all(p["request_id"] == "r-1" and p["meeting_id"] == "m-done" and not p["running"] for p in pages)
    since = 0
    for page in pages:
        assert page["since_seq"] == since
        since = page["next_since_seq"]
        assert since == page["utterances"][-1]["seq"]
    got = [u for p in pages for u in p["utterances"]]
    assert got == [u.to_payload() for u in said]


def test_current_last_and_since(archive):
    source, _ = archive
    (page,) = answer({"since_seq": 25}, source)
    assert page["meeting_id"] == "m-live" and page["running"]
    assert [u["seq"] for u in page["utterances"]] == [26, 27, 28, 29, 30]
    (page,) = answer({"meeting_id": "last", "since_seq": 30}, source)
    assert page["utterances"] == [] and page["next_since_seq"] == 30 and page["more"] is False
    (page,) = answer(b"", source)  # empty: the current meeting from the start
    assert len(page["utterances"]) == 30
    (page,) = answer(b'{"since_seq": 29.0}', source)  # an integer to JSON Schema
    assert [u["seq"] for u in page["utterances"]] == [30]


def test_the_per_request_limit_says_ask_again(archive):
    source, _ = archive
    first = answer({"meeting_id": "m-done"}, source, max_utterances=15)
    assert sum(len(p["utterances"]) for p in first) == 15 and first[-1]["more"] is True
    second = answer({"meeting_id": "m-done", "since_seq": first[-1]["next_since_seq"]}, source, max_utterances=15)
    assert second[0]["utterances"][0]["seq"] == 16
    third = answer({"meeting_id": "m-done", "since_seq": 30}, source, max_utterances=15)
    assert third[-1]["more"] is False and third[-1]["next_since_seq"] == 40


def test_an_utterance_larger_than_a_page_goes_alone(tmp_path):
    with JournalUnderTest(tmp_path / "j.sqlite3") as journal:
        journal.meeting_started("m-1", ROOM, T0)
        journal.add_utterance(utterance("m-1", 1, T0, text="short"))
        journal.add_utterance(utterance("m-1", 2, T0 + 1, text="long " * 1000))
        journal.add_utterance(utterance("m-1", 3, T0 + 2, text="short again"))
    pages = answer({"meeting_id": "m-1"}, JournalReader(tmp_path / "j.sqlite3"), page_bytes=1024)
    assert [[u["seq"] for u in p["utterances"]] for p in pages] == [[1], [2], [3]]


@pytest.mark.parametrize(
    "payload, reason",
    [
        (b"\xff\xfe", "not UTF-8"),
        (b'{"meeting_id": "m-\xc3"}', "not UTF-8"),
        (b"transcript please", "neither empty nor JSON"),
        (b'{"since_seq": 1', "neither empty nor JSON"),
        (b"NaN", "neither empty nor JSON"),
        (b'{"since_seq": Infinity}', "neither empty nor JSON"),
        (b"[]", "must be a JSON object"),
        (b'"current"', "must be a JSON object"),
        (b"null", "must be a JSON object"),
        (b'{"since_seq": "3"}', "since_seq must be an integer"),
        (b'{"since_seq": 3.5}', "since_seq must be an integer"),
        (b'{"since_seq": true}', "since_seq must be an integer"),
        (b'{"since_seq": -1}', "between 0 and"),
        (b'{"since_seq": 9007199254740992}', "between 0 and"),
        (b'{"since_seq": 1e400}', "since_seq must be an integer"),
        (b'{"meeting_id": 5}', "meeting_id must be a string"),
        (b'{"meeting_id": ""}', "1 to 128"),
        (b'{"meeting_id": "a\\u0000b"}', "control characters"),
        (b'{"request_id": ["r"]}', "request_id must be a string"),
        (b'{"request_id": "\\ud800"}', "lone surrogates"),
        (b'{"meeting_id": "current", "limit": 5}', "unknown keys"),
        (b'{"reply_to": "dash/1"}', "one topic level"),
        (b'{"reply_to": "dash-#"}', "one topic level"),
        (b'{"reply_to": 7}', "reply_to must be a string"),
        (b'{"reply_to": ""}', "1 to 128"),
        (b"[" * 3000 + b"]" * 3000, "too large"),
        (b"[" * 2000, "neither empty nor JSON"),
        (b"[" * 2040 + b"]" * 2040, "neither empty nor JSON"),  # too deep for the parser, within the size
        (b'{"a":' * 500 + b"1" + b"}" * 500, "unknown keys"),
        (b" " * (MAX_REQUEST_BYTES + 1), "too large"),
        (json.dumps({"request_id": "x" * 1_000_000}).encode(), "too large"),
    ],
)
def test_bad_requests_get_one_error_response_and_change_nothing(archive, payload, reason):
    source, _ = archive
    before = source.record("m-live")
    (page,) = answer(payload, source)
    assert page["status"] == "error" and page["error"]["code"] == "bad_request"
    assert reason in page["error"]["message"]
    assert source.record("m-live") == before


def test_a_readable_request_id_is_echoed_in_the_error(archive):
    source, _ = archive
    (page,) = answer(b'{"request_id": "r-9", "since_seq": -5}', source)
    assert page["request_id"] == "r-9" and page["status"] == "error"


def test_a_megabyte_is_refused_before_it_is_parsed(archive, monkeypatch):
    source, _ = archive
    loads = json.loads
    monkeypatch.setattr(payloads.json, "loads", lambda *a, **k: pytest.fail("parsed a payload over the limit"))
    t0 = time.perf_counter()
    (page,) = handle_request(b"{" + b" " * (1 << 20) + b"}", source, room=ROOM)
    elapsed = time.perf_counter() - t0
    monkeypatch.undo()
    assert "too large" in loads(page)["error"]["message"] and elapsed < 0.1


def test_reply_to_names_the_asker_s_own_topic_even_when_the_rest_is_bad():
    assert catchup.parse_request(b'{"reply_to": "dash-kitchen"}').reply_to == "dash-kitchen"
    assert catchup.reply_to(b'{"reply_to": "dash-kitchen", "since_seq": -1}') == "dash-kitchen"  # its error goes there
    for payload in (b"", b"{}", b'{"reply_to": "a/b"}', b'{"reply_to": "+"}', b"[1]", b"\xff", b'{"reply_to": 1}',
                    b'{"reply_to": "x' + b"y" * MAX_REQUEST_BYTES + b'"}'):
        assert catchup.reply_to(payload) is None, payload


def test_unknown_ambiguous_and_unavailable(archive, tmp_path):
    source, _ = archive
    assert answer({"meeting_id": "nope-1234", "request_id": "r"}, source)[0]["error"]["code"] == "unknown_meeting"
    assert answer({"meeting_id": "m-"}, source)[0]["error"]["code"] == "unknown_meeting"  # prefix too short
    assert answer({"meeting_id": "m-do"}, source)[0]["meeting_id"] == "m-done"
    with JournalUnderTest(tmp_path / "b.sqlite3") as journal:
        journal.meeting_started("abcd-1", ROOM, T0)
        journal.meeting_started("abcd-2", ROOM, T0 + 1)
    (page,) = answer({"meeting_id": "abcd"}, JournalReader(tmp_path / "b.sqlite3"))
    assert page["error"]["code"] == "ambiguous_meeting" and "abcd-1" in page["error"]["message"]
    (page,) = answer({"meeting_id": "current"}, None)
    assert page["error"]["code"] == "unavailable"

    class Broken:
        def resolve(self, reference):
            raise sqlite3.OperationalError("disk I/O error")

    (page,) = answer({"request_id": "r-2"}, Broken())
    assert page["error"]["code"] == "unavailable" and page["request_id"] == "r-2"


def valid_by_schema(payload: bytes) -> bool:
    """Independent of the parser: empty, or UTF-8 JSON within the size limit that the request schema accepts."""
    if len(payload) > MAX_REQUEST_BYTES:
        return False
    if not payload.strip(b" \t\r\n"):
        return True
    try:
        document = json.loads(payload.decode("utf-8"), parse_constant=lambda name: 1 / 0)
    except (UnicodeDecodeError, ValueError, ZeroDivisionError, RecursionError):
        return False
    return REQUEST.is_valid(document)


requests = st.one_of(
    st.binary(max_size=64),
    st.dictionaries(
        st.sampled_from(["meeting_id", "since_seq", "request_id", "reply_to", "other"]),
        st.one_of(st.integers(-3, 2**54), st.text(max_size=5), st.booleans(), st.none(), st.floats(),
                  st.lists(st.integers(), max_size=2)),
        max_size=4,
    ).map(lambda d: json.dumps(d).encode()),
)


@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(payload=requests)
def test_the_handler_agrees_with_the_schema_and_never_raises(archive, payload):
    source, _ = archive
    pages = answer(payload, source)
    refused = pages[0]["status"] == "error" and pages[0]["error"]["code"] == "bad_request"
    assert refused == (not valid_by_schema(payload)), pages[0]
    try:
        parse_request(payload)
    except catchup.BadRequest:
        assert refused


def test_a_dashboard_joining_mid_meeting_gets_every_utterance_once(tmp_path):
    """The daemon stores before it publishes; a subscriber subscribes, asks from 0, follows `more`, de-duplicates."""
    path = tmp_path / "j.sqlite3"
    n = 300
    subscribers: list[queue.Queue] = []
    lock = threading.Lock()
    joined = threading.Event()

    def daemon(journal: JournalUnderTest) -> None:
        journal.meeting_started("m-1", ROOM, T0, 1)
        for seq in range(1, n + 1):
            u = utterance("m-1", seq, T0 + seq)
            journal.add_utterance(u)  # stored ...
            with lock:  # ... before published
                for inbox in subscribers:
                    inbox.put(u.to_payload())
            if seq == n // 3:
                joined.wait(10)  # the dashboard arrives mid-meeting
            time.sleep(0.0005)

    with JournalUnderTest(path) as journal:
        producer = threading.Thread(target=daemon, args=(journal,))
        producer.start()
        # the dashboard: subscribe first, then ask for what it missed
        while JournalReader(path).empty:
            time.sleep(0.001)
        reader = JournalReader(path)
        while reader.meeting("m-1") is None or reader.meeting("m-1").utterances < n // 3:
            time.sleep(0.001)
        live: queue.Queue = queue.Queue()
        with lock:
            subscribers.append(live)
        joined.set()
        seen: dict[int, int] = {}
        since, requests_made = 0, 0
        while True:
            pages = answer({"meeting_id": "current", "since_seq": since, "request_id": f"r{requests_made}"}, reader,
                           page_bytes=1024, max_utterances=40)
            requests_made += 1
            for page in pages:
                for item in page["utterances"]:
                    seen[item["seq"]] = seen.get(item["seq"], 0) + 1
            since = pages[-1]["next_since_seq"]
            if not pages[-1]["more"]:
                break
        producer.join(60)
    duplicates = 0
    while not live.empty():
        seq = live.get()["seq"]
        if seq in seen:
            duplicates += 1  # de-duplicate on seq, as documented
        else:
            seen[seq] = 1
    assert sorted(seen) == list(range(1, n + 1)) and set(seen.values()) == {1}
    assert requests_made >= 3  # the per-request limit was exercised


def test_catch_up_shows_the_names_of_now_and_sends_unnamed_meetings_as_stored(tmp_path):
    from roomscribe.core.names import SpeakerNaming
    from roomscribe.outputs.journal.names import name_in_record

    with JournalUnderTest(tmp_path / "j.sqlite3") as journal:
        record_meeting(journal, "m-named", n=6)
        record_meeting(journal, "m-plain", start=T0 + 86400, n=6)
        stored = dict(journal.query(lambda db: db.execute(
            "SELECT seq, payload FROM utterances WHERE meeting_id = 'm-plain'").fetchall()))
        journal.query(lambda db: name_in_record(db, SpeakerNaming("Guest-2", "Bob", meeting_id="m-named"), None, T0))
    with JournalReader(tmp_path / "j.sqlite3") as reader:
        pages = handle_request(json.dumps({"meeting_id": "m-plain"}).encode(), reader, room=ROOM)
        assert all(bytes(stored[seq]) in pages[0] for seq in stored)  # byte for byte as published
        [page] = answer({"meeting_id": "m-named"}, reader)
    assert [(u["speaker"], u["speaker_name"]) for u in page["utterances"]] == [
        ("Guest-2", "Bob"), ("Guest-1", None)] * 3
