"""The topic contract (docs/mqtt.md): every topic roomscribe uses, derived from `mqtt.base_topic`."""

from __future__ import annotations

from dataclasses import dataclass

from roomscribe.core.commands import (  # noqa: F401  (COMMANDS: for importers)
    BY_NAME,
    COMMANDS,
    NAME_TOPIC,
    PHRASES_TOPIC,
    REGISTRY,
)
from roomscribe.core.records import SPEECH_CONNECTED, SPEECH_DISCONNECTED, SPEECH_STALLED  # noqa: F401

AVAILABLE = "online"
NOT_AVAILABLE = "offline"
# Home Assistant's switch sends these to the `paused/set` topic.
SWITCH_ON = "ON"
SWITCH_OFF = "OFF"


@dataclass(frozen=True)
class Topics:
    base: str

    def command(self, name: str) -> str:
        spec = BY_NAME.get(name)
        return f"{self.base}/{spec.topic if spec else name}"

    @property
    def commands(self) -> dict[str, str]:
        """Command topic -> command name, from the registry (core/commands.py)."""
        return {f"{self.base}/{spec.topic}": spec.name for spec in REGISTRY}

    @property
    def paused_set(self) -> str:
        """ON pauses, OFF resumes: the command topic of Home Assistant's switch."""
        return f"{self.base}/paused/set"

    @property
    def phrases_set(self) -> str:
        """The room's phrase list, replaced at run time (docs/words.md)."""
        return f"{self.base}/{PHRASES_TOPIC}"

    @property
    def speakers_set(self) -> str:
        """Give a voice a name: `{"speaker": "Guest-1", "name": "Alice"}` (core/names.py)."""
        return f"{self.base}/{NAME_TOPIC}"

    @property
    def speakers(self) -> str:
        """Retained: the running meeting's voices and the names given them."""
        return f"{self.base}/speakers"

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

    @property
    def stats(self) -> str:
        """Retained: audio sent (cost), whether speech is being sent, diagnostics."""
        return f"{self.base}/stats"

    @property
    def meeting(self) -> str:
        """The retained summary of the meeting that ended last (from the journal)."""
        return f"{self.base}/meeting"
