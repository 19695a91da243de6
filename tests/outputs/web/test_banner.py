"""The banner says only what the published state says (outputs/web/banner.py)."""

from __future__ import annotations

import pytest

from roomscribe.core.records import StateMessage
from roomscribe.core.table import State
from roomscribe.outputs.web.banner import banner


def state(name: str, audio: str = "flowing", detail: str = "", audio_detail: str = "") -> dict:
    return StateMessage(state=name, since=0.0, meeting_id="m" if name != "idle" else None, speaker_epoch=1,
                        request_id=None, detail=detail, room="r", audio=audio, audio_detail=audio_detail).to_payload()


@pytest.mark.parametrize("name, audio, speech, kind", [
    ("transcribing", "flowing", True, "live"),
    ("transcribing", "flowing", False, "speech"),  # said to transcribe, but the service is not connected
    ("transcribing", "flowing", "stalled", "speech"),  # open, but the service stopped answering
    ("transcribing", "flowing", "connected", "live"),
    ("paused", "flowing", False, "paused"),  # a released session while paused is no problem: nothing is sent
    ("paused", "lost", True, "paused"),  # paused is what matters for privacy; the microphone is said too
    ("no_audio", "lost", True, "microphone"),
    ("no_audio", "ended", True, "microphone"),
    ("idle", "lost", False, "microphone"),
    ("recovering", "flowing", False, "speech"),
    ("failed", "flowing", False, "speech"),
    ("idle", "flowing", False, "not_transcribing"),
    ("idle", "waiting", False, "not_transcribing"),
    ("starting", "flowing", False, "not_transcribing"),
    ("stopping", "flowing", True, "not_transcribing"),
    ("draining", "flowing", True, "not_transcribing"),  # a state added later is never shown as transcribing
])
def test_each_state_gets_its_banner(name, audio, speech, kind):
    assert banner(state(name, audio), speech)["kind"] == kind


def test_every_state_of_the_machine_has_a_banner_and_only_transcribing_is_live():
    for value in State:
        shown = banner(state(value.value), True)
        assert shown["title"]
        assert (shown["kind"] == "live") == (value is State.TRANSCRIBING)


def test_the_details_say_why():
    assert banner(state("paused", "lost", audio_detail="device 1 is gone"), True)["also"] == ["device 1 is gone"]
    assert banner(state("no_audio", "lost", audio_detail="device 1 is gone"), True)["detail"] == "device 1 is gone"
    assert banner(state("recovering", detail="recovering: stalled for 20 s"), False)["detail"] == \
        "recovering: stalled for 20 s"
    assert banner(None, False) == {"kind": "not_transcribing", "title": "NOT TRANSCRIBING",
                                   "detail": "The daemon has not said its state yet.", "also": []}


def stalled_state(name: str, **extra) -> dict:
    """A state payload as the owner publishes it during a stall (core/describe.py's detail, `reason`)."""
    payload = state(name, **extra)
    if name == "recovering":
        payload["reason"] = "stalled"
        payload["detail"] = ("the speech service stopped answering (no answer to speech for 10.4 s); captured audio "
                             "is kept in memory and sent once it answers; a new connection is tried in 50 s")
    return payload


@pytest.mark.parametrize("name", ["recovering", "transcribing"])
def test_a_stalled_speech_service_is_unreachable_whatever_the_state_says_meanwhile(name):
    shown = banner(stalled_state(name), "stalled")
    assert (shown["kind"], shown["title"]) == ("speech", "SPEECH SERVICE UNREACHABLE")
    if name == "recovering":
        assert shown["detail"].startswith("the speech service stopped answering")  # the state's own words
    else:
        assert "stopped answering" in shown["detail"]


def test_a_stalled_speech_service_is_said_beside_the_pause_and_the_microphone():
    paused = banner(stalled_state("paused"), "stalled")
    assert paused["kind"] == "paused" and any("stopped answering" in line for line in paused["also"])
    no_audio = banner(stalled_state("no_audio", audio="lost", audio_detail="device 1 is gone"), "stalled")
    assert no_audio["kind"] == "microphone" and no_audio["detail"] == "device 1 is gone"
    assert any("stopped answering" in line for line in no_audio["also"])
    # Disconnected while paused is no problem (a released session): nothing is said beside it.
    assert banner(stalled_state("paused"), "disconnected")["also"] == []
