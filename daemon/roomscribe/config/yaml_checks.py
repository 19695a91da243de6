"""Checks on the YAML document itself, before the schema: what yaml.safe_load would silently accept."""

from __future__ import annotations

import yaml

from roomscribe.config.problems import MISSING, ConfigProblem


def duplicate_keys(node: yaml.Node | None, prefix: str = "") -> list[ConfigProblem]:
    """A key given twice in one mapping: YAML keeps the last silently; we refuse it, naming both lines."""
    problems: list[ConfigProblem] = []
    if not isinstance(node, yaml.MappingNode):
        return problems
    first_line: dict[str, int] = {}
    for key_node, value_node in node.value:
        key = str(key_node.value)
        line = key_node.start_mark.line + 1
        if key in first_line:
            problems.append(ConfigProblem(prefix + key, MISSING, f"given twice, on line {first_line[key]} and on "
                                          f"line {line}: keep one", line))
        else:
            first_line[key] = line
        problems += duplicate_keys(value_node, f"{prefix}{key}.")
    return problems


def empty_tls(node: yaml.Node | None) -> list[ConfigProblem]:
    """`tls:` with nothing after it reads as null, which would mean no TLS: refused, as it is ambiguous."""
    mqtt = _child(node, "mqtt")
    tls = _child(mqtt, "tls")
    if isinstance(tls, yaml.ScalarNode) and tls.tag.endswith(":null") and tls.value == "":
        line = tls.start_mark.line + 1
        return [ConfigProblem("mqtt.tls", MISSING, "empty: write `tls: {}` for TLS with the system's CAs, "
                              "or remove the key for no TLS", line)]
    return []


def _child(node: yaml.Node | None, key: str) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if key_node.value == key:
                return value_node
    return None
