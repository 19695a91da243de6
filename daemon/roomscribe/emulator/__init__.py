"""The Speech service emulator: tone-speech codec, recognizer, USP server, faults and record (docs/emulator.md).

Names load on first use, so `import roomscribe.emulator.cli` (a CLI subcommand) stays cheap: the server
pulls in websockets and numpy only when someone asks for it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "Emulator": "roomscribe.emulator.server",
    "EmulatorThread": "roomscribe.emulator.thread",
    "DiarizationSession": "roomscribe.emulator.turns",
    "FaultPlan": "roomscribe.emulator.faults",
    "FaultState": "roomscribe.emulator.faults",
    "IDLE_CLOSE_CODE": "roomscribe.emulator.faults",
    "IDLE_CLOSE_REASON": "roomscribe.emulator.faults",
    "Record": "roomscribe.emulator.record",
    "ConnectionRecord": "roomscribe.emulator.record",
    "TurnRecord": "roomscribe.emulator.record",
    "AudioFrame": "roomscribe.emulator.record",
    "SentMessage": "roomscribe.emulator.record",
    "ReceivedMessage": "roomscribe.emulator.record",
    "RecordedPhrase": "roomscribe.emulator.record",
}

__all__ = sorted(_EXPORTS)

if TYPE_CHECKING:
    from roomscribe.emulator.turns import DiarizationSession
    from roomscribe.emulator.faults import IDLE_CLOSE_CODE, IDLE_CLOSE_REASON, FaultPlan, FaultState
    from roomscribe.emulator.record import (
        AudioFrame,
        ConnectionRecord,
        ReceivedMessage,
        Record,
        RecordedPhrase,
        SentMessage,
        TurnRecord,
    )
    from roomscribe.emulator.server import Emulator
    from roomscribe.emulator.thread import EmulatorThread


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
