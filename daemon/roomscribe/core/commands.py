"""The one registry of commands a person can give: start, stop, pause, resume.

Everything else is derived from it: the machine's command triggers (core/table.py, core/machine.py),
the MQTT command topics and payload parsing (outputs/mqtt/topics.py, outputs/mqtt/commands.py), the
remote subcommands of the command line (cli.py), and a test that checks the docs name every one.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CommandSpec:
    name: str  # the machine's trigger and the CLI subcommand
    help: str  # one line for `roomscribe --help`
    topic: str  # the MQTT topic under mqtt.base_topic that carries it
    example: str  # the options of the example in `roomscribe NAME --help`
    options: tuple[str, ...] = ()  # payload keys it takes besides request_id


REGISTRY: tuple[CommandSpec, ...] = (
    CommandSpec("start", "start a meeting on a running daemon over MQTT", "start",
                "--timeout 30 --phrase Contoso --phrase 'Jessie Irwin'", options=("phrases",)),
    CommandSpec("stop", "stop the meeting on a running daemon over MQTT", "stop", ""),
    CommandSpec("pause", "pause a running daemon over MQTT", "pause", "-c /etc/roomscribe/config.yaml --json"),
    CommandSpec("resume", "resume a running daemon over MQTT", "resume", "--request-id panel-17"),
)

BY_NAME: dict[str, CommandSpec] = {spec.name: spec for spec in REGISTRY}
COMMANDS: tuple[str, ...] = tuple(spec.name for spec in REGISTRY)

# Not a meeting command (the machine never sees it): it replaces the room's phrase list at run time. Its
# payload is parsed in outputs/mqtt/commands.py, the owner's PhraseKeeper (app/phrases.py) carries it out.
PHRASES = "phrases"
PHRASES_TOPIC = "phrases/set"

# Not a meeting command either: it gives a voice a name (core/names.py has the rules). Its payload is parsed in
# outputs/mqtt/commands.py; the owner (app/speakers.py) names a voice of the running meeting, the journal one of
# a past meeting. `roomscribe name` sends it (outputs/archive/naming.py).
NAME = "name"
NAME_TOPIC = "speakers/set"
