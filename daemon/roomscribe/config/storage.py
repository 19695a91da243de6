"""Where the journal lives, the stores of older versions it replaces, and the deprecated keys that name them.

One SQLite journal holds the meeting record and the delivery state (docs/journal.md). Before it, an
outbox (`mqtt.outbox_path`) and an archive (`archive.path`) did, each in its own file. Their keys are
still accepted: they name the files migrated into the journal on the first start, the outbox's bounds
are used, and the journal goes where the outbox was configured to be (an installation that keeps its
state elsewhere keeps it there). Each use of one is reported, with the key that replaces it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from roomscribe.config.paths import state_directory

JOURNAL_FILE = "journal.sqlite3"
OUTBOX_FILE = "outbox.sqlite3"  # the stores of roomscribe before the journal
ARCHIVE_FILE = "archive.sqlite3"


@dataclass(frozen=True, slots=True)
class LegacyStores:
    """The files of an older roomscribe that the journal takes over (they may not exist)."""

    outbox: Path
    archive: Path


def journal_path(settings) -> Path:
    """journal.path; else beside a configured (deprecated) outbox or archive; else the state directory's."""
    if settings.journal.path is not None:
        return settings.journal.path
    for configured in (settings.mqtt.outbox_path, settings.archive.path):
        if configured is not None:
            return configured.parent / JOURNAL_FILE
    return state_directory() / JOURNAL_FILE


def legacy_stores(settings) -> LegacyStores:
    home = state_directory()
    return LegacyStores(outbox=settings.mqtt.outbox_path or home / OUTBOX_FILE,
                        archive=settings.archive.path or home / ARCHIVE_FILE)


def max_waiting(settings) -> int:
    """journal.max_waiting, or the deprecated mqtt.outbox_max_messages when only that was changed."""
    return _newer_or_older(settings.journal.max_waiting, 100_000, settings.mqtt.outbox_max_messages)


def max_waiting_s(settings) -> float:
    return _newer_or_older(settings.journal.max_waiting_days, 7.0, settings.mqtt.outbox_max_age_days) * 86400


def _newer_or_older(newer, default, older):
    return older if older is not None and newer == default else newer


def deprecations(settings) -> list[str]:
    """One sentence per deprecated key in use: what it does now and what replaces it."""
    found = []
    mqtt, archive = settings.mqtt, settings.archive
    if mqtt.outbox_path is not None:
        found.append(f"mqtt.outbox_path is deprecated: an outbox there is migrated into the journal "
                     f"({journal_path(settings)}); set journal.path instead")
    if archive.path is not None:
        found.append(f"archive.path is deprecated: an archive there is migrated into the journal "
                     f"({journal_path(settings)}); set journal.path instead")
    for old, new in (("outbox_max_messages", "max_waiting"), ("outbox_max_age_days", "max_waiting_days")):
        if getattr(mqtt, old) is not None:
            found.append(f"mqtt.{old} is deprecated: use journal.{new}")
    return found
