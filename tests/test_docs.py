"""The documents say what the code does: exit codes, event kinds, the transcript example, in-flight limits.

(Config keys: every key of config.yaml.example is a settings key and every settings key is in it, checked in
tests/config/test_checkconfig.py::test_the_example_names_every_option_and_switched_on_it_validates.)
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from roomscribe import cli
from roomscribe.system import exitcodes
from roomscribe.core.records import Utterance

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text()
SYSTEMD = (REPO / "docs" / "systemd.md").read_text()
MQTT = (REPO / "docs" / "mqtt.md").read_text()
CODES = {value for name, value in vars(exitcodes).items() if name.isupper()}


def table_codes(text: str, heading: str) -> set[int]:
    """Codes in the first column of the first table after `heading`."""
    rest = text.split(heading, 1)[1]
    table = re.search(r"(?m)^\|[^\n]*\|\n\|[-| ]+\|\n((?:\|[^\n]*\n)+)", rest).group(1)
    return {int(m) for m in re.findall(r"(?m)^\| (\d+) \|", table)}


@pytest.mark.parametrize("text, heading", [(README, "Exit codes (sysexits"), (SYSTEMD, "## Exit codes and restarts")])
def test_the_exit_code_tables_list_exactly_the_codes_of_exitcodes(text, heading):
    assert table_codes(text, heading) == CODES


def test_every_code_in_a_help_epilog_is_one_of_exitcodes():
    for name, (_module, _help, epilog) in cli.SUBCOMMANDS.items():
        named = {int(code) for code in re.findall(r"(?m)^  (\d+)\s", epilog.split("exit codes:", 1)[1])}
        assert named and named <= CODES, (name, named - CODES)


def test_the_systemd_unit_prevents_restarts_on_the_config_code():
    unit = (REPO / "systemd" / "roomscribe.service").read_text()
    assert f"RestartPreventExitStatus={exitcodes.CONFIG}" in unit


def _event_kinds_in_code() -> set[str]:
    package = REPO / "daemon" / "roomscribe"
    source = "\n".join(p.read_text() for p in package.rglob("*.py") if "emulator" not in p.parts)
    return set(re.findall(r'(?:\b_event|\bEvent|\bEmitEvent|\.event)\(\s*"([a-z_]+)"', source))


def test_every_event_kind_the_code_publishes_is_in_the_event_table_and_back():
    table = MQTT.split("## Events", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"`([a-z]+(?:_[a-z]+)+)`", "\n".join(l.split("|")[1] for l in table.splitlines()
                                                                      if l.startswith("| `"))))
    in_code = _event_kinds_in_code()
    assert len(in_code) >= 10  # the scan finds them
    assert in_code == documented


def test_the_readme_transcript_example_has_the_payload_keys_in_order():
    example = README.split("A transcript:", 1)[1].split("```json", 1)[1].split("```", 1)[0]
    keys = re.findall(r'"([a-z_]+)":', example)
    payload = Utterance(meeting_id="m", seq=1, speaker="Guest-1", speaker_epoch=1, text="t", start=0.0, end=1.0,
                        offset_ms=0, duration_ms=1000, language="en-US", room="r").to_payload()
    assert keys == list(payload)


def test_the_in_flight_numbers_in_mqtt_md_are_the_code_s():
    from roomscribe.outputs.mqtt.delivery import WINDOW
    from roomscribe.outputs.mqtt.connection import MAX_INFLIGHT

    assert f"Up to {WINDOW} are handed to paho at once" in MQTT
    assert f"at most {MAX_INFLIGHT} of them unacknowledged" in MQTT
