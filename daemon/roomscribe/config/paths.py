"""Where the configuration and the daemon's state live by default (read when asked, never at import)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping

DEFAULT_CONFIG_PATH = Path("/etc/roomscribe/config.yaml")
ROOT_STATE_DIRECTORY = Path("/var/lib/roomscribe")  # root's default outside systemd (what StateDirectory= makes)


def state_directory() -> Path:
    """Where the daemon keeps its state (the journal), read when the settings are built:

    systemd's StateDirectory= ($STATE_DIRECTORY, its first entry); else /var/lib/roomscribe for root;
    else $XDG_STATE_HOME/roomscribe, by default ~/.local/state/roomscribe (the XDG base directory spec).
    """
    return default_state_directory(os.environ, os.geteuid())


def default_state_directory(environ: Mapping[str, str], euid: int) -> Path:
    if environ.get("STATE_DIRECTORY"):
        return Path(environ["STATE_DIRECTORY"].split(":")[0])
    if euid == 0:
        return ROOT_STATE_DIRECTORY
    xdg = environ.get("XDG_STATE_HOME", "")
    if os.path.isabs(xdg):  # the spec: a relative path is invalid and ignored
        return Path(xdg) / "roomscribe"
    return Path(environ.get("HOME") or Path.home()) / ".local" / "state" / "roomscribe"


def default_config_path() -> Path:
    return Path(os.environ.get("ROOMSCRIBE_CONFIG", str(DEFAULT_CONFIG_PATH)))
