"""The command registry is the one list: the machine, the MQTT contract, the CLI and the docs follow it."""

from __future__ import annotations

import re
from pathlib import Path

from roomscribe import cli
from roomscribe.core.commands import BY_NAME, COMMANDS, REGISTRY
from roomscribe.core.table import ACKNOWLEDGED, REFUSED, TRANSITIONS
from roomscribe.outputs.mqtt.commands import COMMAND_NAMES, CommandRejected, parse_command
from roomscribe.outputs.mqtt.topics import Topics

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_the_machine_has_transitions_and_answers_for_every_command_and_no_other():
    triggers = {row["trigger"] for row in TRANSITIONS}
    assert set(COMMANDS) <= triggers
    assert set(ACKNOWLEDGED) == set(REFUSED) == set(COMMANDS)


def test_mqtt_topics_and_parsing_come_from_the_registry():
    topics = Topics("room/x")
    assert topics.commands == {f"room/x/{spec.topic}": spec.name for spec in REGISTRY}
    assert COMMAND_NAMES == COMMANDS
    for name in COMMANDS:
        assert parse_command(name, b"").name == name
    try:
        parse_command("reboot", b"")
    except CommandRejected:
        pass
    else:
        raise AssertionError("an unknown command was accepted")


def test_the_cli_has_one_remote_subcommand_per_command():
    for spec in REGISTRY:
        module, help_text, epilog = cli.SUBCOMMANDS[spec.name]
        assert (module, help_text) == ("roomscribe.outputs.mqtt.remote", spec.help)
        assert f"roomscribe {spec.name}" in epilog


def test_the_docs_name_every_command():
    mqtt = (DOCS / "mqtt.md").read_text()
    machine = (DOCS / "state-machine.md").read_text()
    for spec in REGISTRY:
        assert f"`meeting/{spec.topic}`" in mqtt, spec.name
        assert re.search(rf"^\| `{spec.name}` \|", machine, re.M), f"no row for {spec.name} in the command table"
    assert set(BY_NAME) == set(COMMANDS)
