"""`roomscribe meetings | export | forget`: the meeting record (the journal) from the command line.

    roomscribe meetings [--json] [--since DATE] [--tz ZONE]
    roomscribe export [MEETING|current|last] [--format txt|md|jsonl|vtt|srt] [-o FILE] [--tz ZONE]
    roomscribe forget MEETING | --older-than DAYS | --all  [--dry-run] [--json]

One module for the three: `add_arguments` reads the subcommand from the parser's name ("roomscribe
export"), `main` from `args.command`, as cli.py sets them. The journal is the file the configuration
names (`-c FILE`: journal.path, config/storage.py), else `$STATE_DIRECTORY/journal.sqlite3`
(/var/lib/roomscribe/...); `--journal PATH` overrides both. Reading opens it read-only, so the commands
work while the daemon writes; a journal not written yet reads as one without meetings.

Exit codes (sysexits): 0 done; 64 bad arguments or an ambiguous id prefix; 66 no such meeting (or no
journal to delete from); 73 the output file cannot be written; 74 the journal cannot be read; 78
configuration error.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import sys
import time
from datetime import datetime, timezone, tzinfo
from pathlib import Path

from roomscribe.system import exitcodes
from roomscribe.outputs.archive.export import FORMATS, duration_text, export, zone_name
from roomscribe.outputs.archive.meetings import AmbiguousMeeting, Meeting, UnknownMeeting
from roomscribe.outputs.journal import forget
from roomscribe.outputs.journal.reader import JournalReader

NAMES = ("meetings", "export", "forget")
SHORT_ID = 8


class CommandError(Exception):
    def __init__(self, message: str, code: int):
        super().__init__(message)
        self.code = code


# -- arguments -------------------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    name = parser.prog.rsplit(" ", 1)[-1]
    if name not in NAMES:
        raise ValueError(f"{__name__} serves {', '.join(NAMES)}, not {name!r}")
    _common(parser)
    {"meetings": add_meetings_arguments, "export": add_export_arguments, "forget": add_forget_arguments}[name](parser)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--journal", "--archive", dest="journal", metavar="PATH", default=None,
                        help="the journal file (default: journal.path from the configuration, or the state "
                        "directory's journal.sqlite3); --archive is its old name")


def _tz_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--tz", default="UTC", metavar="ZONE",
                        help="time zone of the wall-clock times: UTC (default), local, or a name like Europe/Berlin")


def add_meetings_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print a JSON array instead of a table")
    parser.add_argument("--since", metavar="DATE", default=None,
                        help="only meetings that started on or after DATE (YYYY-MM-DD or an ISO time, in --tz)")
    _tz_argument(parser)


def add_export_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("meeting", nargs="?", default="last",
                        help="a meeting id or a unique prefix of one (4+ characters), current, or last (default)")
    parser.add_argument("--format", "-f", choices=FORMATS, default="txt", help="output format (default: txt)")
    parser.add_argument("-o", "--output", metavar="FILE", default=None,
                        help="write to FILE (created mode 0600) instead of standard output")
    _tz_argument(parser)


def add_forget_arguments(parser: argparse.ArgumentParser) -> None:
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("meeting", nargs="?", default=None, help="a meeting id or prefix, current, or last")
    what.add_argument("--older-than", metavar="DAYS", type=float, default=None,
                      help="every meeting that ended more than DAYS ago (never the running one)")
    what.add_argument("--all", action="store_true", help="every meeting, the running one too")
    parser.add_argument("--dry-run", action="store_true", help="say what would be deleted, delete nothing")
    parser.add_argument("--json", action="store_true", help="print what was deleted as a JSON array")


# -- running ---------------------------------------------------------------------------------------


def main(args: argparse.Namespace) -> int:
    run = {"meetings": meetings_main, "export": export_main, "forget": forget_main}[args.command]
    return run(args)


def meetings_main(args: argparse.Namespace) -> int:
    def run() -> int:
        tz = parse_tz(args.tz)
        since = parse_since(args.since, tz) if args.since else None
        with _read(args) as store:
            found = store.meetings(since=since)
        if args.json:
            print(json.dumps([m.to_json() for m in found], ensure_ascii=False, indent=2))
        elif not found:
            print("no meetings" + (f" since {args.since}" if args.since else ""))
            if store.empty:
                print(f"roomscribe: nothing recorded yet in {store.path}", file=sys.stderr)
        else:
            print(meetings_table(found, tz))
        return exitcodes.OK

    return _guarded(run)


def export_main(args: argparse.Namespace) -> int:
    def run() -> int:
        tz = parse_tz(args.tz)
        with _read(args) as store:
            record = store.record(store.resolve(args.meeting))
        text = export(record, args.format, tz)
        if args.output in (None, "-"):
            sys.stdout.write(text)
            return exitcodes.OK
        _write_private(Path(args.output), text)
        print(f"wrote meeting {record.meeting.id} ({record.meeting.utterances} utterances) as {args.format} "
              f"to {args.output}", file=sys.stderr)
        return exitcodes.OK

    return _guarded(run)


def forget_main(args: argparse.Namespace) -> int:
    def run() -> int:
        path = journal_path(args)
        with _read(args) as store:
            if args.all:
                selected = store.meetings()
            elif args.older_than is not None:
                if args.older_than < 0:
                    raise CommandError("--older-than needs a number of days, 0 or more", exitcodes.USAGE)
                cutoff = time.time() - args.older_than * 86400
                selected = [m for m in store.meetings() if m.end is not None and m.end < cutoff]
            else:
                found = store.meeting(store.resolve(args.meeting))
                selected = [found] if found is not None else []
        if args.dry_run or not selected:
            gone = selected
        elif args.all:
            gone = _deleting(lambda: forget.forget_all(path))
        elif args.older_than is not None:
            gone = _deleting(lambda: forget.forget_older_than(path, args.older_than))
        else:
            gone = _deleting(lambda: forget.forget_meeting(path, selected[0].id))
        if args.json:
            print(json.dumps([m.to_json() for m in gone], ensure_ascii=False, indent=2))
            return exitcodes.OK
        verb = "would delete" if args.dry_run else "deleted"
        if not gone:
            print(f"{verb} nothing: no meeting matched")
        for m in gone:
            running = " (running: its later utterances are kept as a new record)" if m.running and not args.dry_run else ""
            print(f"{verb} meeting {m.id} of {_when(m.start, timezone.utc)} UTC, {m.utterances} utterances{running}")
        return exitcodes.OK

    return _guarded(run)

def _deleting(delete) -> list[Meeting]:
    try:
        return delete()
    except (sqlite3.Error, OSError) as exc:
        raise CommandError(f"cannot delete from the journal: {exc}", exitcodes.IOERR) from None


# -- helpers ---------------------------------------------------------------------------------------


def journal_path(args: argparse.Namespace) -> Path:
    """--journal, else the journal of the configuration, else the state directory's journal.sqlite3."""
    if args.journal:
        return Path(args.journal)
    from roomscribe import config as cfg
    from roomscribe.config import storage
    from roomscribe.config.commandline import load_settings

    path = Path(args.config) if args.config else cfg.default_config_path()
    if args.config or path.exists():
        return storage.journal_path(load_settings(str(path)))
    return default_journal_path()


def default_journal_path() -> Path:
    """Where the daemon keeps it without a configuration: the state directory."""
    from roomscribe.config.paths import state_directory
    from roomscribe.config.storage import JOURNAL_FILE

    return state_directory() / JOURNAL_FILE


def _read(args: argparse.Namespace) -> JournalReader:
    """The journal, read-only; clear errors when it cannot be read (a missing one reads as empty)."""
    path = journal_path(args)
    try:
        return JournalReader(path)
    except (sqlite3.Error, OSError) as exc:
        raise CommandError(f"cannot read the journal {path}: {exc}", exitcodes.IOERR) from None


def _guarded(run) -> int:
    try:
        return run()
    except CommandError as exc:
        print(f"roomscribe: {exc}", file=sys.stderr)
        return exc.code
    except UnknownMeeting as exc:
        print(f"roomscribe: unknown meeting {exc}", file=sys.stderr)
        return exitcodes.NOINPUT
    except AmbiguousMeeting as exc:
        print(f"roomscribe: ambiguous meeting {exc}", file=sys.stderr)
        return exitcodes.USAGE
    except sqlite3.Error as exc:
        print(f"roomscribe: the journal could not be read: {exc}", file=sys.stderr)
        return exitcodes.IOERR


def _write_private(path: Path, text: str) -> None:
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with open(descriptor, "w", encoding="utf-8") as out:
            out.write(text)
    except OSError as exc:
        raise CommandError(f"cannot write {path}: {exc.strerror or exc}", exitcodes.CANT_CREATE) from None


def parse_tz(name: str) -> tzinfo:
    if name.upper() == "UTC":
        return timezone.utc
    if name == "local":
        return datetime.now().astimezone().tzinfo or timezone.utc
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise CommandError(f"unknown time zone {name!r} (UTC, local, or a name like Europe/Berlin)",
                           exitcodes.USAGE) from None


def parse_since(text: str, tz: tzinfo) -> float:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise CommandError(f"--since {text!r}: expected a date (YYYY-MM-DD) or an ISO time", exitcodes.USAGE) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=tz)
    return moment.timestamp()


def meetings_table(found: list[Meeting], tz: tzinfo) -> str:
    ids = _short_ids([m.id for m in found])
    rows = [("ID", f"START ({zone_name(tz, found[0].start)})", "END", "DURATION", "UTTERANCES", "SPEAKERS", "PAUSED")]
    for m in found:
        per_epoch: dict[int, int] = {}
        for epoch, _ in m.speakers:
            per_epoch[epoch] = per_epoch.get(epoch, 0) + 1
        rows.append((
            ids[m.id],
            _when(m.start, tz),
            "running" if m.end is None else datetime.fromtimestamp(m.end, tz).strftime("%H:%M:%S"),
            "" if m.end is None else duration_text(m.end - m.start),
            str(m.utterances),
            "+".join(str(n) for n in per_epoch.values()) or "0",  # 2+3: labels restarted once
            duration_text(m.paused_seconds) if m.paused_seconds else "",
        ))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows)


def _short_ids(ids: list[str]) -> dict[str, str]:
    """The shortest prefix of at least SHORT_ID characters that names each id alone (it works as MEETING)."""
    short = {}
    for meeting_id in ids:
        length = SHORT_ID
        while length < len(meeting_id) and any(o != meeting_id and o.startswith(meeting_id[:length]) for o in ids):
            length += 1
        short[meeting_id] = meeting_id[:length]
    return short


def _when(at: float, tz: tzinfo) -> str:
    return datetime.fromtimestamp(at, tz).strftime("%Y-%m-%d %H:%M:%S")
