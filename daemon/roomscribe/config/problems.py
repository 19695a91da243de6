"""Configuration problems: each names the key path, the value found there, the reason and the line.

msgspec stops at the first problem. To report every problem of a file at once, the key it names is
set aside (its default applies) and the rest is validated again, until nothing is left to complain
about. msgspec's wording is turned into plain sentences that also say what would be accepted.
"""

from __future__ import annotations

import re
import types
import typing
from dataclasses import dataclass
from typing import Any, Callable

import msgspec
import yaml

SECRET_KEYS = {"key", "password", "access_token", "command_token"}
MAX_PROBLEMS = 50  # a file with more is not worth reading further


class _Missing:
    def __repr__(self) -> str:
        return "<missing>"


MISSING: Any = _Missing()


@dataclass(frozen=True)
class ConfigProblem:
    path: str
    value: Any
    message: str
    line: int | None = None

    def __str__(self) -> str:
        where = f" (line {self.line})" if self.line else ""
        # A message that names its key already (an adapter's "audio.file: …") is not prefixed twice.
        message = self.message.removeprefix(f"{self.path}: ") if self.path else self.message
        shown = "" if self.value is MISSING else f" (got {_shortened(repr(self.value))})"
        return f"{self.path or '<top>'}{where}: {message}{shown}"


def _shortened(text: str, limit: int = 160) -> str:
    """A value as shown in a problem: a 2,000-character phrase is not repeated whole."""
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text)} characters)"


class ConfigError(Exception):
    """Every problem found in a configuration file, each naming key path, value, reason and line."""

    def __init__(self, source: str, problems: list[ConfigProblem]):
        self.source = source
        self.problems = problems
        super().__init__(f"{source}: " + "; ".join(str(p) for p in problems))


def validate_all(data: dict, convert: Callable[[dict], Any], root: type, node: yaml.Node | None, source: str):
    """convert(data), or ConfigError with every problem in it."""
    work = _copy(data)
    problems: list[ConfigProblem] = []
    set_aside: list[list[str]] = []
    while len(problems) < MAX_PROBLEMS:
        try:
            result = convert(work)
        except msgspec.ValidationError as exc:
            loc, message = _split(str(exc))
            if message.startswith("Object contains unknown field"):
                named = re.search(r"`(.*)`", message)
                loc = loc + [named.group(1) if named else "?"]
                message = "unknown key" + _did_you_mean(root, loc)
            elif key := _key_named(root, loc, message):  # a section check about one key: "phrases: …"
                loc, message = loc + [key], message[len(key) + 2:]
            # A check of a whole section that fails because a key it names was set aside says nothing
            # new (a password whose username was wrong is not also "without a username"). The checks
            # name the keys they relate in their messages.
            consequence = any(
                len(aside) > len(loc) and aside[: len(loc)] == loc and re.search(rf"\b{aside[len(loc)]}\b", message)
                for aside in set_aside
            )
            if not consequence:
                value = _lookup(data, loc)
                problems.append(ConfigProblem(".".join(loc), redact(loc, value), _reword(message, root, loc),
                                              line_of(node, loc)))
            if not loc or not _remove(work, loc):
                break
            set_aside.append(loc)
            continue
        if not problems:
            return result
        break
    raise ConfigError(source, problems)


def _split(text: str) -> tuple[list[str], str]:
    message, _, where = text.rpartition(" - at `")
    if not message:
        return [], text
    path = where.rstrip("`").removeprefix("$")
    return [p for p in re.split(r"\.|\[(\d+)\]", path) if p], message


_TYPE_WORDS = {"int": "integer", "float": "number", "bool": "boolean", "str": "string", "object": "dictionary",
               "array": "list", "null": "null"}


def _reword(message: str, root: type, loc: list[str]) -> str:
    allowed = _literal_values(root, loc)
    if allowed is not None:
        listed = [repr(v) for v in allowed]
        return "Input should be " + (" or ".join([", ".join(listed[:-1]), listed[-1]]) if len(listed) > 1 else listed[0])
    if m := re.fullmatch(r"Expected `str` matching regex '(.*)'", message):
        described = PATTERN_TEXTS.get(m.group(1))
        return described or f"String should match pattern '{m.group(1)}'"
    if m := re.fullmatch(r"Expected `\w+` (>=|>|<=|<) (\S+)", message):
        words = {">=": "greater than or equal to", ">": "greater than", "<=": "less than or equal to", "<": "less than"}
        return f"Input should be {words[m.group(1)]} {m.group(2)}"
    if m := re.fullmatch(r"Expected `([^`]+)`, got `(\w+)`", message):
        kinds = " or ".join(_TYPE_WORDS.get(t.strip(), t.strip()) for t in m.group(1).split("|"))
        return f"Input should be a valid {kinds}"
    return message


# Patterns of config.py in words (a test checks that every pattern there has one).
PATTERN_TEXTS = {
    r"^[a-zA-Z0-9_-]{1,64}$": "should be 1 to 64 letters, digits, '_' or '-', without spaces (e.g. boardroom)",
    r"^[^#+\s][^#+]*$": "should be an MQTT topic without '#' or '+', not starting with a space (e.g. meeting)",
    r"^[a-z0-9]+$": "should be an Azure region in lower case without spaces (e.g. westeurope)",
    r"^wss?://": "should start with ws:// or wss:// (e.g. ws://127.0.0.1:5000)",
    r"^[a-zA-Z]{2,3}(-[a-zA-Z0-9]{2,8})*$": "should be a BCP-47 locale (e.g. en-US)",
}


def _did_you_mean(root: type, loc: list[str]) -> str:
    """"; did you mean 'host'?" when an unknown key is close to a known one of its section."""
    kind: Any = root
    for part in loc[:-1]:
        kind = _unwrap(kind)
        fields = {f.name: f.type for f in msgspec.structs.fields(kind)} if _is_struct(kind) else {}
        if part not in fields:
            return ""
        kind = fields[part]
    kind = _unwrap(kind)
    if not _is_struct(kind):
        return ""
    import difflib  # only for a key that is not known: not loaded by a daemon whose configuration is valid

    close = difflib.get_close_matches(loc[-1], [f.name for f in msgspec.structs.fields(kind)], n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""


def _key_named(root: type, loc: list[str], message: str) -> str | None:
    """The key a section check's message starts with ("languages: …"), if it is a key of that section."""
    match = re.match(r"(\w+): ", message)
    if match is None:
        return None
    kind: Any = root
    for part in loc:
        kind = _unwrap(kind)
        fields = {f.name: f.type for f in msgspec.structs.fields(kind)} if _is_struct(kind) else {}
        if part not in fields:
            return None
        kind = fields[part]
    kind = _unwrap(kind)
    names = {f.name for f in msgspec.structs.fields(kind)} if _is_struct(kind) else set()
    return match.group(1) if match.group(1) in names else None


def _is_struct(kind: Any) -> bool:
    return isinstance(kind, type) and issubclass(kind, msgspec.Struct)


def _literal_values(root: type, loc: list[str]) -> tuple | None:
    """The allowed values when the key at `loc` is a Literal field."""
    kind: Any = root
    for part in loc:
        kind = _unwrap(kind)
        if not (isinstance(kind, type) and issubclass(kind, msgspec.Struct)):
            return None
        fields = {f.name: f.type for f in msgspec.structs.fields(kind)}
        if part not in fields:
            return None
        kind = fields[part]
    kind = _unwrap(kind)
    return typing.get_args(kind) if typing.get_origin(kind) is typing.Literal else None


def _unwrap(kind: Any) -> Any:
    """T from Annotated[T, ...] and from T | None."""
    if typing.get_origin(kind) is typing.Annotated:
        kind = typing.get_args(kind)[0]
    args = [a for a in typing.get_args(kind) if a is not type(None)]
    if typing.get_origin(kind) in (typing.Union, types.UnionType) and len(args) == 1:
        return _unwrap(args[0])
    return kind


def _copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    return value


def _lookup(data: Any, loc: list[str]) -> Any:
    for part in loc:
        if not isinstance(data, dict) or part not in data:
            return MISSING
        data = data[part]
    return data


def _remove(data: Any, loc: list[str]) -> bool:
    for part in loc[:-1]:
        if not isinstance(data, dict) or part not in data:
            return False
        data = data[part]
    if isinstance(data, dict) and loc[-1] in data:
        del data[loc[-1]]
        return True
    return False


def redact(loc: list[str], value: Any) -> Any:
    """Hide secrets in a problem's value, also inside a whole section a section check reports."""
    if loc and loc[-1] in SECRET_KEYS and value is not None and value is not MISSING:
        return "***"
    if isinstance(value, dict):
        return {k: ("***" if k in SECRET_KEYS and v is not None else redact([], v)) for k, v in value.items()}
    return value


def line_of(node: yaml.Node | None, loc: list[str]) -> int | None:
    """The 1-based line of the deepest YAML node on the key path that exists."""
    line = None
    for part in loc:
        if not isinstance(node, yaml.MappingNode):
            break
        for key_node, value_node in node.value:
            if key_node.value == part:
                line = key_node.start_mark.line + 1
                node = value_node
                break
        else:
            break
    return line
