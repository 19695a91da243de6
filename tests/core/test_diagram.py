"""docs/state-machine.md cannot go stale: its diagram, transition table and command table are checked
against the machine itself."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from roomscribe.core.commands import COMMANDS
from roomscribe.core.machine import render_mermaid
from roomscribe.core.table import TRANSITIONS, State
from tests.support.meeting_paths import machine_in

DOC = Path(__file__).resolve().parents[2] / "docs" / "state-machine.md"


def doc_text() -> str:
    return DOC.read_text(encoding="utf-8")


def table_after(heading: str) -> list[list[str]]:
    """Rows (cells stripped of backticks) of the first Markdown table after a heading."""
    section = doc_text().split(f"\n{heading}\n", 1)[1]
    rows = []
    for line in section.splitlines():
        if line.startswith("|"):
            rows.append([cell.strip().replace("`", "") for cell in line.strip("|").split("|")])
        elif rows:
            break
    return [row for row in rows[1:] if not set(row[0]) <= {"-"}]


def test_the_diagram_in_the_docs_is_the_rendered_machine():
    blocks = re.findall(r"```mermaid\n(.*?)```", doc_text(), flags=re.S)
    assert len(blocks) == 1
    assert blocks[0] == render_mermaid()


def test_rendering_is_deterministic_and_names_every_state_and_trigger():
    text = render_mermaid()
    assert text == render_mermaid()
    assert text.startswith("stateDiagram-v2\n")
    for state in State:
        assert f'state "{state.value}" as {state.name}' in text
    for trigger in {row["trigger"] for row in TRANSITIONS}:
        assert trigger in text
    assert "classDef" not in text and "Class " not in text  # styling of a throw-away machine is dropped


def _as_list(value) -> list:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def test_the_transition_table_in_the_docs_is_the_transition_data():
    expected = set()
    for row in TRANSITIONS:
        guard = [*_as_list(row.get("conditions")), *("!" + u for u in _as_list(row.get("unless")))]
        for source in _as_list(row["source"]):
            dest = row["dest"].value if row["dest"] is not None else f"{source.value} (internal)"
            expected.add((source.value, row["trigger"], " & ".join(guard) or "—", dest))
    documented = [tuple(cells[:4]) for cells in table_after("## Transitions")]
    assert len(documented) == len(set(documented)), "a transition is documented twice"
    assert set(documented) == expected


COMMANDS_HEADING = "## Commands: carried out, acknowledged or refused"


@pytest.mark.parametrize("state", list(State))
def test_the_command_table_in_the_docs_is_what_the_machine_does(state):
    header, rows = table_header(COMMANDS_HEADING), table_after(COMMANDS_HEADING)
    assert header == ["command", *(s.value for s in State)]
    assert [row[0] for row in rows] == list(COMMANDS)
    column = header.index(state.value)
    for row in rows:
        name, cell = row[0], row[column]
        machine, _ = machine_in(state)
        result = machine.command(name)
        if cell.startswith("→"):
            target = cell.removeprefix("→").split()[0]
            assert result.changed and machine.state.value == target, (name, state)
        elif cell.startswith("acknowledged"):
            assert result.accepted and not result.changed, (name, state)
        else:
            assert cell.startswith("refused") and not result.accepted, (name, state)


def table_header(heading: str) -> list[str]:
    section = doc_text().split(f"\n{heading}\n", 1)[1]
    first = next(line for line in section.splitlines() if line.startswith("|"))
    return [cell.strip().replace("`", "") for cell in first.strip("|").split("|")]
