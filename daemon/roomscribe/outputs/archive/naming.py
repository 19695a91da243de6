"""`roomscribe name [MEETING] SPEAKER NAME`: give a voice a name (or `--remove` it), in the running meeting or
a past one.

The journal has one writer. While the daemon runs it holds the journal (a shared flock, outputs/journal/
lock.py), and the name goes to it the way every other name does: over MQTT on `<base>/speakers/set`, with
a fresh request_id, answered by its `speaker_named` or `command_refused` event. The daemon decides (a
voice of the running meeting at once, one of a past meeting through its journal writer) and the retained
`<base>/speakers`, the page and later utterances follow. When no daemon holds the journal (it is stopped),
the command takes the journal to itself for one transaction (an exclusive lock: a daemon starting
meanwhile waits for it) and names the voice there, with the same rules and the same code as the daemon's
writer (outputs/journal/names.py).

MEETING is `current` (the default: the running meeting), `last`, an id or a prefix of 4+ characters. The
speaker epoch defaults to the running meeting's current one (a past meeting's last one); `--epoch` names
another. Exit codes: 0 named; 1 refused (bad speaker, unknown meeting …: nothing changed); 64 bad command
line (a name that breaks the rules too); 69 the daemon holds the journal but gave no answer in time; 74 the
journal cannot be written; 78 configuration unusable or the broker refused the login.
"""

from __future__ import annotations

import argparse
import json
import re
import sqlite3
import sys
import time
import uuid

from roomscribe.core.names import Named, NamingRefused, SpeakerNaming
from roomscribe.core.records import encode
from roomscribe.outputs.archive import commands
from roomscribe.outputs.journal import lock
from roomscribe.system import exitcodes

_LABEL = re.compile(r"^Guest-\d+$")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.usage = "%(prog)s [options] [MEETING] SPEAKER (NAME | --remove)"
    parser.add_argument("words", nargs="+", metavar="MEETING SPEAKER NAME",
                        help="the meeting (current by default, last, an id or a prefix of 4+ characters), the "
                             "speaker's label (Guest-1) and the name; quote a name with spaces")
    parser.add_argument("--remove", action="store_true", help="take the voice's name away (give no NAME)")
    parser.add_argument("--epoch", type=int, default=None, metavar="N",
                        help="the speaker epoch of the label (default: the meeting's current, or last, one)")
    parser.add_argument("--journal", metavar="PATH", default=None,
                        help="the journal file (default: journal.path from the configuration, or the state "
                             "directory's journal.sqlite3)")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for the daemon's answer")
    parser.add_argument("--request-id", default=None, help="request_id to send (default: a fresh one)")
    parser.add_argument("--json", action="store_true", help="print the answer as JSON")


def main(args: argparse.Namespace) -> int:
    try:
        naming = request(args)
    except ValueError as exc:
        print(f"roomscribe name: {exc}", file=sys.stderr)
        return exitcodes.USAGE
    try:
        path = commands.journal_path(args)
    except commands.CommandError as exc:
        print(f"roomscribe: {exc}", file=sys.stderr)
        return exc.code
    held = lock.alone(path)
    if held is None:  # a daemon has the journal (or there is none here): the daemon names it
        return through_daemon(args, naming)
    try:
        return in_journal(path, naming, args.json)
    finally:
        lock.release(held)


def request(args: argparse.Namespace) -> SpeakerNaming:
    """The naming the words ask for, checked by the same parser as `<base>/speakers/set` (ValueError)."""
    from roomscribe.outputs.mqtt.commands import CommandRejected, parse_naming

    words = list(args.words)
    wanted = 1 if args.remove else 2
    if len(words) not in (wanted, wanted + 1):
        raise ValueError("give [MEETING] SPEAKER NAME, or [MEETING] SPEAKER --remove; quote a name with spaces")
    if len(words) == wanted + 1 and not args.remove and _LABEL.match(words[0]) and not _LABEL.match(words[1]):
        raise ValueError(f"{words[0]!r} is a speaker, not a meeting: quote a name with spaces "
                         f"(roomscribe name {words[0]} \"{' '.join(words[1:])}\")")
    if not args.remove and not words[-1].strip():
        raise ValueError("the name is empty: give one, or --remove to take a voice's name away")
    meeting = words.pop(0) if len(words) == wanted + 1 else None
    payload = {"speaker": words[0], "name": None if args.remove else words[1],
               "request_id": args.request_id or f"cli-{uuid.uuid4().hex[:12]}"}
    if meeting is not None:
        payload["meeting_id"] = meeting
    if args.epoch is not None:
        payload["speaker_epoch"] = args.epoch
    try:
        return parse_naming(encode(payload))
    except CommandRejected as exc:
        raise ValueError(exc.reason) from None


def through_daemon(args: argparse.Namespace, naming: SpeakerNaming) -> int:
    from roomscribe.outputs.mqtt.remote import connected

    with connected(args.config, args.timeout) as session:
        request_id = naming.request_id or f"cli-{uuid.uuid4().hex[:12]}"  # parse_words gave it one
        payload: dict[str, str | int | None] = {"speaker": naming.speaker, "name": naming.name,
                                                "request_id": request_id}
        if naming.meeting_id is not None:
            payload["meeting_id"] = naming.meeting_id
        if naming.speaker_epoch is not None:
            payload["speaker_epoch"] = naming.speaker_epoch
        answer = session.ask(session.topics.speakers_set, encode(payload), request_id, {"speaker_named"})
    if answer is None:
        print(f"roomscribe: no answer to the name (request_id {naming.request_id}) within {args.timeout:g} s; the "
              "daemon holds the journal: is it running and connected to this broker?", file=sys.stderr)
        return exitcodes.UNAVAILABLE
    detail = found if isinstance(found := answer.get("detail"), dict) else {}
    if answer.get("kind") == "speaker_named":
        print(json.dumps(answer, ensure_ascii=False) if args.json else describe(detail))
        return exitcodes.OK
    print(json.dumps(answer, ensure_ascii=False) if args.json else f"refused: {detail.get('reason')}")
    return exitcodes.FAILURE


def in_journal(path, naming: SpeakerNaming, as_json: bool) -> int:
    """No daemon holds the journal: name the voice in it, in one transaction of this process's own."""
    from roomscribe.outputs.journal.names import name_in_record
    from roomscribe.outputs.journal.schema import open_for_writing

    try:
        db = open_for_writing(path)
        try:
            db.execute("BEGIN IMMEDIATE")
            try:
                result = name_in_record(db, naming, None, time.time())
                db.execute("COMMIT")
            except BaseException:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise
        finally:
            db.close()
    except (sqlite3.Error, OSError) as exc:
        print(f"roomscribe: cannot write the journal {path}: {exc}", file=sys.stderr)
        return exitcodes.IOERR
    if isinstance(result, Named):
        print(json.dumps({"kind": "speaker_named", "detail": result.detail()}, ensure_ascii=False) if as_json
              else describe(result.detail()))
        return exitcodes.OK
    reason = result.reason if isinstance(result, NamingRefused) else "the meeting is running"
    print(json.dumps({"kind": "command_refused", "detail": {"command": naming.command, "reason": reason}},
                     ensure_ascii=False) if as_json else f"refused: {reason}")
    return exitcodes.FAILURE


def describe(detail: dict) -> str:
    name = detail.get("name")
    was = f" (was {detail['previous']})" if detail.get("previous") else ""
    what = f"is now {name}" if name is not None else "has no name now"
    return f"{detail.get('speaker')} of speaker epoch {detail.get('speaker_epoch')} in meeting " \
           f"{detail.get('meeting_id')} {what}{was}"
