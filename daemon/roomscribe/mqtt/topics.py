"""The topic contract (docs/mqtt.md): every topic roomscribe uses, derived from `mqtt.base_topic`."""

from __future__ import annotations

from dataclasses import dataclass

COMMANDS = ("start", "stop", "pause", "resume")

AVAILABLE = "online"
NOT_AVAILABLE = "offline"
SPEECH_CONNECTED = "connected"
SPEECH_DISCONNECTED = "disconnected"
# Home Assistant's switch sends these to the `paused/set` topic.
SWITCH_ON = "ON"
SWITCH_OFF = "OFF"


@dataclass(frozen=True)
class Topics:
    base: str

    def command(self, name: str) -> str:
        return f"{self.base}/{name}"

    @property
    def commands(self) -> dict[str, str]:
        """Command topic -> command name."""
        return {self.command(name): name for name in COMMANDS}

    @property
    def paused_set(self) -> str:
        """ON pauses, OFF resumes: the command topic of Home Assistant's switch."""
        return f"{self.base}/paused/set"

    @property
    def state(self) -> str:
        return f"{self.base}/state"

    @property
    def availability(self) -> str:
        return f"{self.base}/availability"

    @property
    def transcript(self) -> str:
        return f"{self.base}/transcript"

    @property
    def partial(self) -> str:
        return f"{self.base}/transcript/partial"

    @property
    def event(self) -> str:
        return f"{self.base}/event"

    @property
    def speech_connection(self) -> str:
        return f"{self.base}/speech_connection"
