"""Command line: wiring only; each subcommand lives in the module that owns its job.

Exit codes follow sysexits.h (exitcodes.py): a bad command line is 64 for every subcommand, not
argparse's 2. Global options (`--log-level`, `-v`) go before or after the subcommand.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from roomscribe import __version__
from roomscribe.config.commandline import CommandExit, add_config_option
from roomscribe.core.commands import REGISTRY
from roomscribe.system import exitcodes, logs


def _codes(*lines: str) -> str:
    return "exit codes:\n" + "\n".join(f"  {line}" for line in (*lines, "64  bad command line"))


_REMOTE_CODES = _codes("0   answered", "1   refused by the daemon", "69  no answer in time (broker or daemon unreachable)",
                       "78  configuration unusable or broker login refused")

# subcommand -> (module, help, epilog). Each module has add_arguments(parser) and main(args) -> int.
SUBCOMMANDS: dict[str, tuple[str, str, str]] = {
    "run": ("roomscribe.app.run", "run the daemon",
            "example:\n  roomscribe run -c /etc/roomscribe/config.yaml --log-level debug\n\n"
            + _codes("0   clean stop (SIGTERM, SIGINT)", "1   unexpected error (systemd restarts the service)",
                     "78  configuration invalid or state directory unusable (systemd does not restart)")),
    "check-config": ("roomscribe.config.checkconfig", "validate a configuration file and print it, secrets redacted",
                     "example:\n  roomscribe check-config -c /etc/roomscribe/config.yaml\n\n"
                     + _codes("0   valid: the effective configuration is printed",
                              "78  every problem printed on stderr with key, line and value")),
    "devices": ("roomscribe.audio.devices", "list audio capture devices",
                "example:\n  roomscribe devices --json\n\n"
                + _codes("0   listed (possibly none)",
                         "69  PyAudio is not installed (--json: a JSON object with \"error\")")),
    "demo": ("roomscribe.demo.cli", "offline demo: emulator + broker + the real daemon on a scripted meeting",
             "example:\n  roomscribe demo --speed 2\n\n" + _codes("0   the demo ran and the secret stayed private",
                                                                   "1   the demo failed")),
    "emulator": ("roomscribe.emulator.cli", "the Speech service emulator (serve, synth)",
                 "examples:\n  roomscribe emulator serve --port 5000\n"
                 "  roomscribe emulator synth meeting.txt -o meeting.wav\n\n"
                 + _codes("0   done (serve: stopped by SIGINT/SIGTERM)", "1   serve: cannot listen on the port",
                          "69  the 'emulator' extra is not installed", "73  synth: the output file cannot be written")
                 + "\n  (64 also: synth cannot read or parse the script)"),
    "meetings": ("roomscribe.outputs.archive.commands", "list the meetings in the journal",
                 "examples:\n  roomscribe meetings\n  roomscribe meetings --json --since 2026-11-01\n\n"
                 + _codes("0   listed (possibly none, also before anything was recorded)", "74  the journal cannot be read",
                          "78  configuration error")),
    "export": ("roomscribe.outputs.archive.commands", "export a meeting: txt, md (minutes), jsonl, vtt, srt",
               "examples:\n  roomscribe export last --format md -o minutes.md\n  roomscribe export current --format vtt\n\n"
               + _codes("0   exported", "66  no such meeting", "73  the output file cannot be written",
                        "74  the journal cannot be read", "78  configuration error")
               + "\n  (64 also: an ambiguous id prefix or an unknown time zone)"),
    "forget": ("roomscribe.outputs.archive.commands", "delete meetings from the journal, for good",
               "examples:\n  roomscribe forget 3f2a9c1e\n  roomscribe forget --older-than 90\n  roomscribe forget --all\n\n"
               + _codes("0   deleted (and listed what)", "66  no such meeting",
                        "74  the journal cannot be read or written", "78  configuration error")),
    "name": ("roomscribe.outputs.archive.naming", "give a voice a name, in the running meeting or a past one",
             "examples:\n  roomscribe name Guest-1 'Alice Smith'\n  roomscribe name last Guest-2 Bob --epoch 2\n"
             "  roomscribe name 3f2a9c1e Guest-1 --remove\n\n"
             "While the daemon runs it names the voice (over MQTT); when it is stopped, the journal is written here.\n\n"
             + _codes("0   named", "1   refused (unknown speaker or meeting, …): nothing changed",
                      "69  the daemon has the journal but gave no answer in time", "74  the journal cannot be written",
                      "78  configuration unusable or broker login refused")),
    "status": ("roomscribe.outputs.mqtt.remote", "print a running daemon's state",
               "example:\n  roomscribe status -c /etc/roomscribe/config.yaml --json\n\n"
               + _codes("0   a state is published", "69  no state in time (broker unreachable or no daemon)",
                        "78  configuration unusable or broker login refused")),
}


# The remote commands, one per entry of the command registry (core/commands.py), listed by name.
SUBCOMMANDS.update({
    spec.name: ("roomscribe.outputs.mqtt.remote", spec.help,
                f"example:\n  {' '.join(filter(None, ('roomscribe', spec.name, spec.example)))}\n\n" + _REMOTE_CODES)
    for spec in sorted(REGISTRY, key=lambda spec: spec.name)
})
SUBCOMMANDS["status"] = SUBCOMMANDS.pop("status")  # after the commands, as --help has always listed it
# The commands that read the configuration: each gets the one -c/--config option (config/commandline.py).
WITHOUT_CONFIG = {"devices", "demo", "emulator"}


class ArgumentParser(argparse.ArgumentParser):
    """argparse, but a usage error exits 64 (EX_USAGE); sub-parsers inherit the class."""

    def error(self, message: str):
        self.print_usage(sys.stderr)
        self.exit(exitcodes.USAGE, f"{self.prog}: error: {message}\n")


def _add_global_options(parser: argparse.ArgumentParser, default) -> None:
    group = parser.add_argument_group("logging")
    group.add_argument("--log-level", type=str.lower, choices=logs.LEVELS, default=default,
                       help="log level; overrides log.level of the configuration (default: info)")
    group.add_argument("-v", "--verbose", action="store_true", default=default, help="the same as --log-level debug")


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """All subcommands are listed; only the one being run is imported to add its arguments."""
    parser = ArgumentParser(
        prog="roomscribe",
        description="Meeting-room transcription: microphone -> Azure ConversationTranscriber -> MQTT, with a private pause.",
        epilog="exit codes (sysexits): 0 success, 1 unexpected error or refused, 64 bad command line, "
               "69 unavailable, 73 cannot create, 78 configuration; each command's --help lists its own.",
    )
    parser.add_argument("--version", action="version", version=f"roomscribe {__version__}")
    _add_global_options(parser, default=None)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (module_name, help_text, epilog) in SUBCOMMANDS.items():
        sub_parser = sub.add_parser(name, help=help_text, description=help_text, epilog=epilog,
                                    formatter_class=argparse.RawDescriptionHelpFormatter)
        # SUPPRESS: a sub-parser's own default would overwrite a value given before the subcommand.
        _add_global_options(sub_parser, default=argparse.SUPPRESS)
        if name not in WITHOUT_CONFIG:
            add_config_option(sub_parser)
        if name == command:
            module = importlib.import_module(module_name)
            if hasattr(module, "add_arguments"):
                module.add_arguments(sub_parser)
            sub_parser.set_defaults(command_main=module.main)
    return parser


_OPTIONS_WITH_VALUE = {"--log-level"}


def _command_in(argv: list[str]) -> str | None:
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg in _OPTIONS_WITH_VALUE:
            skip = True
        elif not arg.startswith("-"):
            return arg
    return None


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser(_command_in(argv))
    args = parser.parse_args(argv)
    level = logs.cli_level(args)
    if logs.configured_elsewhere():  # a host process (pytest, an embedding program) owns the handlers
        if level is not None:
            logs.set_level(level)
    else:
        logs.setup(level)
    try:
        return int(args.command_main(args) or exitcodes.OK)
    except CommandExit as exc:  # the command said why already
        return exc.code
    except KeyboardInterrupt:
        return exitcodes.OK
