"""The building blocks of the settings: a secret that never prints, a described field, a strict section.

Shared by schema.py (the settings) and the sections that live in modules of their own (web.py).
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec


class Secret:
    """A key or password: its value only through get_secret_value(), never in a repr, a log or a dump."""

    __slots__ = ("_value",)

    def __init__(self, value: str):
        self._value = value

    def get_secret_value(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


def option(kind: Any, description: str, **constraints: Any) -> Any:
    """A field type with its description and constraints (constraints go on the non-None type: `option(...) | None`)."""
    return Annotated[kind, msgspec.Meta(description=description, **constraints)]


class Section(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    pass
