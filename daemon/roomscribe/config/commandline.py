"""What every command that reads the configuration shares: its one `-c/--config` option, and the one way
it loads the file: every problem logged with its key, line and value, then exit 78 (EX_CONFIG).

`roomscribe check-config` reports problems its own way (all of them, the files the configuration names
included, secrets masked); `run`, the remote commands and the record commands load through here.
"""

from __future__ import annotations

import argparse
import logging

from roomscribe.system import exitcodes

log = logging.getLogger(__name__)

CONFIG_HELP = "configuration file (default: $ROOMSCRIBE_CONFIG or /etc/roomscribe/config.yaml)"


class CommandExit(Exception):
    """Ends a command with an exit code once it has said why (cli.main returns the code)."""

    def __init__(self, code: int):
        super().__init__(code)
        self.code = code


def add_config_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-c", "--config", default=None, metavar="FILE", help=CONFIG_HELP)


def load_settings(config: str | None):
    """The settings of `config` (or the default file); its problems logged and CommandExit(78) if unusable."""
    from roomscribe.config import ConfigError, load_config
    from roomscribe.config.checkconfig import describe_problem

    try:
        return load_config(config)
    except ConfigError as exc:
        report_problems(exc.source, exc.problems, describe_problem)
        raise CommandExit(exitcodes.CONFIG) from None


def report_problems(source, problems, describe=str) -> None:
    for problem in problems:
        log.error("configuration error in %s: %s", source, describe(problem))
