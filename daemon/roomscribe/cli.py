"""Command line: wiring only; each subcommand lives in the module that owns its job."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from roomscribe import __version__, exitcodes

# subcommand -> (module, help). Each module has add_arguments(parser) and main(args) -> int.
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "run": ("roomscribe.daemon", "run the daemon"),
    "check-config": ("roomscribe.checkconfig", "validate a configuration file and print it, secrets redacted"),
    "devices": ("roomscribe.audio.devices", "list audio capture devices"),
    "demo": ("roomscribe.demo", "offline demo: emulator + broker + the real daemon on a scripted meeting"),
    "emulator": ("roomscribe.emulator.cli", "the Speech service emulator (serve, synth)"),
    "pause": ("roomscribe.mqtt.remote", "pause a running daemon over MQTT"),
    "resume": ("roomscribe.mqtt.remote", "resume a running daemon over MQTT"),
    "start": ("roomscribe.mqtt.remote", "start a meeting on a running daemon over MQTT"),
    "stop": ("roomscribe.mqtt.remote", "stop the meeting on a running daemon over MQTT"),
    "status": ("roomscribe.mqtt.remote", "print a running daemon's state"),
}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """All subcommands are listed; only the one being run is imported to add its arguments."""
    parser = argparse.ArgumentParser(
        prog="roomscribe",
        description="Meeting-room transcription: microphone -> Azure ConversationTranscriber -> MQTT, with a private pause.",
    )
    parser.add_argument("--version", action="version", version=f"roomscribe {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (module_name, help_text) in SUBCOMMANDS.items():
        sub_parser = sub.add_parser(name, help=help_text, description=help_text)
        if name == command:
            module = importlib.import_module(module_name)
            module.add_arguments(sub_parser)
            sub_parser.set_defaults(_module=module)
    return parser


def _command_in(argv: list[str]) -> str | None:
    return next((arg for arg in argv if not arg.startswith("-")), None)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser(_command_in(argv))
    args = parser.parse_args(argv)
    if not logging.getLogger().handlers:
        # Plain lines: journald adds time stamps and levels of its own.
        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    # transitions logs every callback at INFO; our own state log says what matters.
    logging.getLogger("transitions").setLevel(logging.WARNING)
    try:
        return int(args._module.main(args) or exitcodes.OK)
    except KeyboardInterrupt:
        return exitcodes.OK
