"""Phrase lists over MQTT: the start command's `phrases`, the room's list on `<base>/phrases/set`.

Pure parsing, with the shipped schemas as the oracle; the link's routing of refusals through a real
Mosquitto is in tests/app/test_daemon_words.py.
"""

from __future__ import annotations

import json

import jsonschema
import pytest

from roomscribe.core.phrases import MAX_PHRASE_CHARS, MAX_PHRASES
from roomscribe.outputs.mqtt.commands import MAX_PHRASES_BYTES, Command, CommandRejected, parse_command
from roomscribe.outputs.mqtt.topics import Topics
from tests.outputs.mqtt.conftest import load_schema

COMMAND = jsonschema.Draft202012Validator(load_schema("command"))
PHRASES_SET = jsonschema.Draft202012Validator(load_schema("phrases_set"))


def test_start_takes_the_meetings_phrases():
    payload = json.dumps({"request_id": "cal-7", "phrases": ["Jessie Irwin", " Rehaan ", "jessie irwin"]}).encode()
    assert parse_command("start", payload) == Command("start", "cal-7", ("Jessie Irwin", "Rehaan"))
    assert COMMAND.is_valid(json.loads(payload))
    assert parse_command("start", b'{"phrases": []}') == Command("start", None, ())
    assert parse_command("start", b"") == Command("start")  # no list: the meeting's stays as it was


@pytest.mark.parametrize("name", ["stop", "pause", "resume"])
def test_only_start_takes_phrases(name):
    with pytest.raises(CommandRejected) as caught:
        parse_command(name, b'{"request_id": "r", "phrases": ["Contoso"]}')
    assert "unknown keys" in caught.value.reason and caught.value.request_id == "r"


BAD_PHRASES = {
    "not a list": ('"Contoso"', "must be a list"),
    "not strings": ("[\"Contoso\", 7]", "must be a string"),
    "blank": ('["Contoso", "  "]', "empty"),
    "too long": (json.dumps(["x" * 2000]), f"at most {MAX_PHRASE_CHARS}"),
    "line break": ('["Contoso\\nbank"]', "control characters"),
    "too many": (json.dumps([f"w{i}" for i in range(MAX_PHRASES + 1)]), f"at most {MAX_PHRASES}"),
}


@pytest.mark.parametrize("case", list(BAD_PHRASES))
def test_a_bad_list_is_refused_with_a_reason_on_both_topics(case):
    phrases, reason = BAD_PHRASES[case]
    set_payload = f'{{"request_id": "p-1", "phrases": {phrases}}}'.encode()
    with pytest.raises(CommandRejected) as caught:
        parse_command("phrases", set_payload)
    assert reason in caught.value.reason and caught.value.request_id == "p-1"
    assert not PHRASES_SET.is_valid(json.loads(set_payload))
    if case != "too many":  # 501 phrases do not fit in a command's 4 KiB anyway
        with pytest.raises(CommandRejected) as caught:
            parse_command("start", f'{{"request_id": "s-1", "phrases": {phrases}}}'.encode())
        assert reason in caught.value.reason and caught.value.request_id == "s-1"


def test_the_rooms_list_as_an_array_or_an_object():
    assert parse_command("phrases", b'["Contoso", "Fabrikam"]') == Command("phrases", None, ("Contoso", "Fabrikam"))
    assert parse_command("phrases", b'{"phrases": [], "request_id": "clear"}') == Command("phrases", "clear", ())
    whole = json.dumps([f"product name {i:03d}" for i in range(MAX_PHRASES)]).encode()
    assert len(whole) > 4096 and len(parse_command("phrases", whole).phrases) == MAX_PHRASES
    for payload in (b'["Contoso"]', b'{"phrases": ["Contoso"], "request_id": "r"}', whole):
        assert PHRASES_SET.is_valid(json.loads(payload))


@pytest.mark.parametrize("payload, reason", [
    (b"", "empty"),
    (b"Contoso", "neither empty nor JSON"),
    (b'"Contoso"', "JSON array of phrases or an object"),
    (b'{"request_id": "r"}', "no 'phrases'"),
    (b'{"phrases": [], "mode": "add"}', "unknown keys"),
    (b"\xff", "not UTF-8"),
    (b" " * (MAX_PHRASES_BYTES + 1), "too large"),
])
def test_bad_payloads_on_phrases_set(payload, reason):
    with pytest.raises(CommandRejected) as caught:
        parse_command("phrases", payload)
    assert reason in caught.value.reason


def test_the_topic():
    assert Topics("rooms/boardroom").phrases_set == "rooms/boardroom/phrases/set"


def test_the_command_line_takes_phrases_on_start_only_and_checks_them_before_connecting(tmp_path):
    from roomscribe.system import exitcodes
    from tests.system.test_cli import roomscribe

    assert "--phrase PHRASE" in roomscribe("start", "--help").stdout
    assert roomscribe("stop", "--phrase", "Contoso").returncode == exitcodes.USAGE
    config = tmp_path / "config.yaml"
    config.write_text("mqtt: {host: 127.0.0.1, port: 9}\n")  # nothing listens: a valid list would wait for it
    bad = roomscribe("start", "-c", str(config), "--phrase", "Contoso", "--phrase", "x" * 2000)
    assert bad.returncode == exitcodes.USAGE == 64
    assert "--phrase: a phrase has 2000 characters, at most 100" in bad.stderr
