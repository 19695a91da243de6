"""Protocol cases the real SDK cannot be made to produce on demand, driven by a plain WebSocket client that
speaks USP as the SDK does (same frames, same order). Everything else is tested through the real SDK."""

from __future__ import annotations

import json
import uuid

import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from roomscribe.emulator import EmulatorThread
from roomscribe.emulator import usp
from tests.support.emulator_sdk import script_pcm

# The SDK's turn header: RIFF/WAVE, PCM, 1 channel, 16000 Hz, 32000 B/s, 16-bit, data of unknown length.
WAV_HEADER = bytes.fromhex("52494646 00000000 57415645 666d7420 10000000 0100 0100 803e0000 007d0000 0200 1000 "
                           "64617461 00000000".replace(" ", ""))


class UspClient:
    """One connection: speech.config on open, then turns of speech.context, WAV header, audio, 0-byte end."""

    def __init__(self, host_url: str, audio_session_id: str, path: str = "/speech/universal/v2?language=en-US"):
        self.ws = connect(host_url + path, subprotocols=["USP"], compression=None,
                          additional_headers={"X-ConnectionId": audio_session_id})
        self.audio_session_id = audio_session_id
        self.stream_id = 0
        self._send_text("speech.config", None, {"context": {"audio": {"source": {"samplerate": "16000"}}}})

    def _send_text(self, path: str, request_id: str | None, body: dict) -> None:
        headers = [("Path", path), ("X-Timestamp", usp.timestamp()), ("Content-Type", "application/json")]
        if request_id is not None:
            headers.append(("X-RequestId", request_id))
        self.ws.send(usp.encode_text(tuple(headers), body))

    def turn(self, pcm: bytes, audio_offset_ms: int = 0) -> list[usp.Message]:
        """Send one turn of audio and its end; return every message up to turn.end."""
        request_id = uuid.uuid4().hex
        self.stream_id += 1
        diarization = {"mode": "Anonymous", "audioSessionId": self.audio_session_id, "audioOffsetMS": audio_offset_ms}
        self._send_text("speech.context", request_id,
                        {"phraseDetection": {"mode": "Conversation", "language": "en-us",
                                             "speakerDiarization": diarization}})
        headers = (("Path", "audio"), ("X-RequestId", request_id), ("X-StreamId", str(self.stream_id)))
        self.ws.send(usp.encode_binary(headers + (("Content-Type", "audio/x-wav"),), WAV_HEADER))
        for position in range(0, len(pcm), 3200):
            self.ws.send(usp.encode_binary(headers, pcm[position : position + 3200]))
        self.ws.send(usp.encode_binary(headers, b""))
        received = []
        while True:
            message = usp.parse_text(self.ws.recv(timeout=30))
            assert message.request_id == request_id
            received.append(message)
            if message.path == "turn.end":
                return received

    def close(self) -> None:
        self.ws.close()


def success_phrases(messages: list[usp.Message]) -> list[tuple[str, str, int]]:
    return [(b["DisplayText"], b["SpeakerId"], b["Offset"]) for b in (m.json() for m in messages if m.path == "speech.phrase")
            if b["RecognitionStatus"] == "Success"]


def test_the_wav_header_constant_is_the_sdks():
    assert usp.parse_wav_header(WAV_HEADER).is_service_pcm and len(WAV_HEADER) == 44


def test_replayed_audio_already_answered_gets_no_second_phrase_and_labels_carry_over():
    first, planned = script_pcm("Alice: First thing\nBob: Second thing\n")
    both, planned_both = script_pcm("Alice: First thing\nBob: Second thing\nBob: A new thing\n")
    assert both.startswith(first[: len(first) - 32000])
    session = uuid.uuid4().hex
    with EmulatorThread() as emu:
        client = UspClient(emu.host_url, session)
        answered = success_phrases(client.turn(first))
        client.close()
        assert [(text, speaker) for text, speaker, _ in answered] == [("First thing", "Guest-1"), ("Second thing", "Guest-2")]
        # A client that lost the acknowledgements replays everything from 0 on a new connection, then more.
        again = UspClient(emu.host_url, session)
        replayed = success_phrases(again.turn(both))
        again.close()
    assert [(text, speaker) for text, speaker, _ in replayed] == [("A new thing", "Guest-2")]
    assert abs(replayed[0][2] / 1e7 - planned_both[2].start) < 0.02
    assert [p.text for p in emu.record.phrases()] == ["First thing", "Second thing", "A new thing"]


def test_a_new_audio_session_starts_its_labels_again():
    pcm, _ = script_pcm("Bob: Hello\n")
    with EmulatorThread() as emu:
        for _ in range(2):
            client = UspClient(emu.host_url, uuid.uuid4().hex)
            assert [speaker for _, speaker, _ in success_phrases(client.turn(pcm))] == ["Guest-1"]
            client.close()


def test_turn_base_places_the_audio_in_the_session_stream():
    pcm, planned = script_pcm("Alice: Later on\n")
    with EmulatorThread() as emu:
        client = UspClient(emu.host_url, uuid.uuid4().hex)
        (phrase,) = success_phrases(client.turn(pcm, audio_offset_ms=60_000))
        client.close()
    # Offsets are turn-relative on the wire; the record counts from the session's start.
    assert abs(phrase[2] / 1e7 - planned[0].start) < 0.02
    assert abs(emu.record.phrases()[0].offset_ticks / 1e7 - (60 + planned[0].start)) < 0.02
    assert emu.record.audio_frames()[1].stream_offset == 60 * 32000


def test_audio_for_an_unknown_request_id_and_frames_that_are_not_usp_are_ignored():
    pcm, _ = script_pcm("Alice: Still fine\n")
    with EmulatorThread() as emu:
        client = UspClient(emu.host_url, uuid.uuid4().hex)
        client.ws.send(usp.encode_binary((("Path", "audio"), ("X-RequestId", "not-a-turn")), b"\x00\x01" * 100))
        client.ws.send("this is not a USP frame")
        client.ws.send(b"\x00")
        assert [text for text, _, _ in success_phrases(client.turn(pcm))] == ["Still fine"]
        client.close()
    assert [f.kind for f in emu.record.audio_frames()][0] == "ignored"


def test_an_unknown_path_is_refused_with_404():
    with EmulatorThread() as emu:
        with pytest.raises(InvalidStatus) as refused:
            connect(emu.host_url + "/speech/recognition/interactive", subprotocols=["USP"])
        assert refused.value.response.status_code == 404
    assert emu.record.connections[0].http_status == 404


def test_record_json_is_plain_json():
    pcm, _ = script_pcm("Alice: Dump me\n")
    with EmulatorThread() as emu:
        client = UspClient(emu.host_url, uuid.uuid4().hex)
        client.turn(pcm)
        client.close()
        emu.wait_for(lambda r: r.connections[0].closed_at, 10, "the close")
    data = json.loads(emu.record.to_json())
    assert set(data) == {"connections", "turns", "received", "audio", "sent", "phrases", "acknowledged_bytes"}
    assert data["connections"][0]["closed_by"] == "client" and data["connections"][0]["close_code"] == 1000
    assert "data" not in data["audio"][0]
