"""Configuration: the schema (schema.py), its problems (problems.py), the run-time checks (checks.py)
and `roomscribe check-config` (checkconfig.py).

The settings' names are re-exported here, so `from roomscribe.config import Settings, load_config`
is the one way to reach them. They are loaded on first use (PEP 562), so importing the package for
check-config's argument parser does not pull in msgspec and PyYAML.
"""

from __future__ import annotations

import importlib

_HOMES = {
    "MISSING": "problems", "ConfigError": "problems", "ConfigProblem": "problems", "SECRET_KEYS": "problems",
    "DEFAULT_CONFIG_PATH": "paths", "default_config_path": "paths", "default_state_directory": "paths",
    **dict.fromkeys((
        "ROOM_PATTERN", "AudioSettings", "LogSettings", "MeetingSettings", "MqttSettings",
        "MqttTls", "Secret", "Settings", "SpeechSettings", "WebSettings",
        "load_config", "parse_config", "redacted_dump", "settings_from_data", "settings_to_data",
    ), "schema"),
}

__all__ = sorted(_HOMES)


def __getattr__(name: str):
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value
