"""The building blocks of the settings: a secret that never prints, a field's description, a strict section.

Shared by schema.py (the settings) and the sections that live in modules of their own (web.py).
"""

from __future__ import annotations

from typing import Any

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


def doc(description: str, **constraints: Any) -> msgspec.Meta:
    """A field's description and constraints: `port: Annotated[int, doc("TCP port", ge=1)] = 8470`. Constraints go
    on the type that is not None: `Annotated[int, doc(..., ge=10)] | None`."""
    return msgspec.Meta(description=description, **constraints)


class Section(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    """A settings section. Subclasses say `frozen=True` again: msgspec inherits it, the type checker does not."""
