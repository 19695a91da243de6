"""What the page's banner says: derived from the published state and the speech connection only.

The banner is true only when said, as the state is: PAUSED when the published state is `paused` (the
gate is closed: nothing leaves the room), MICROPHONE PROBLEM when the meeting has no audio or the
source is lost, SPEECH SERVICE UNREACHABLE when the session is recovering or failed, when the speech
connection is `stalled` (open, but the service stopped answering: what is said is kept and sent once it
answers), or when the meeting transcribes without a connected speech service, NOT TRANSCRIBING for
everything else that is not `transcribing` (idle, starting, stopping, a state this page does not know
yet). A stalled service while paused or without audio is said beside that banner. Values added later
(new states, `recovering` reasons, another speech connection value) fall into these cases without a
change here. Pure: plain dicts in, a plain dict out.
"""

from __future__ import annotations

from typing import Any

PAUSED, MICROPHONE, SPEECH, NOT_TRANSCRIBING, LIVE = "paused", "microphone", "speech", "not_transcribing", "live"
TITLES = {
    PAUSED: "PAUSED",
    MICROPHONE: "MICROPHONE PROBLEM",
    SPEECH: "SPEECH SERVICE UNREACHABLE",
    NOT_TRANSCRIBING: "NOT TRANSCRIBING",
    LIVE: "TRANSCRIBING",
}
_QUIET = {
    "idle": "No meeting in progress.",
    "starting": "The meeting is starting.",
    "stopping": "The meeting is ending: the last sentence is being finished.",
}


STALLED_DETAIL = "The speech service stopped answering; what is said is kept and sent once it answers."


def speech_connected(value: Any) -> bool:
    """True only for a connected speech service: `True` (a flag) or "connected" (the MQTT value)."""
    return value is True or value == "connected"


def speech_stalled(value: Any) -> bool:
    """The connection is open but the service stopped answering (the MQTT value "stalled")."""
    return value == "stalled"


def banner(state: dict | None, speech_connection: Any) -> dict:
    """{"kind", "title", "detail", "also"} for the state payload (records.StateMessage.to_payload())."""
    if not state:
        return _banner(NOT_TRANSCRIBING, "The daemon has not said its state yet.")
    name = state.get("state")
    detail = state.get("detail") or ""
    audio = state.get("audio") if isinstance(state.get("audio"), dict) else {}
    audio_lost = audio.get("status") == "lost"
    microphone = name == "no_audio" or audio_lost
    stalled = speech_stalled(speech_connection)
    also = []
    if name == "paused":
        if audio_lost:
            also.append(_microphone_detail(audio))
        if stalled:
            also.append(STALLED_DETAIL)
        return _banner(PAUSED, "Nothing leaves the room.", also)
    if microphone:
        return _banner(MICROPHONE, _microphone_detail(audio) if audio.get("detail") else detail,
                       [STALLED_DETAIL] if stalled else None)
    if name in ("recovering", "failed"):
        return _banner(SPEECH, detail or "The speech session is being re-established.")
    if stalled:  # whatever the state says meanwhile (it leaves `transcribing` on the same watch's round)
        return _banner(SPEECH, STALLED_DETAIL)
    if name == "transcribing":
        if not speech_connected(speech_connection):
            return _banner(SPEECH, "The connection to the speech service is down.")
        return _banner(LIVE, "Speech is transcribed live.")
    return _banner(NOT_TRANSCRIBING, _QUIET.get(name, detail or f"state: {name}"))


def _microphone_detail(audio: dict) -> str:
    return audio.get("detail") or "The audio source delivers nothing."


def _banner(kind: str, detail: str, also: list[str] | None = None) -> dict:
    return {"kind": kind, "title": TITLES[kind], "detail": detail, "also": also or []}
