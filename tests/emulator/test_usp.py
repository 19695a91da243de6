"""USP framing: the text and binary frames and the WAV header exactly as SDK 1.53 writes them."""

import json
import struct

import pytest

from roomscribe.emulator import usp

# The 44-byte header the SDK sends at the start of every turn (usp-protocol.md §3).
SDK_WAV_HEADER = bytes.fromhex(
    "52494646 00000000 57415645 666d7420 10000000 0100 0100 803e0000 007d0000 0200 1000 64617461 00000000".replace(" ", "")
)


def sdk_binary_frame(headers: str, payload: bytes) -> bytes:
    block = headers.encode("ascii")
    return struct.pack(">H", len(block)) + block + payload


def test_text_frame_as_the_sdk_writes_it():
    frame = (
        "Path:speech.context\r\nX-RequestId:0123abcd0123abcd0123abcd0123abcd\r\nX-Timestamp:2024-01-01T00:00:00.000Z\r\n"
        "Content-Type:application/json\r\n\r\n"
        '{"phraseDetection":{"mode":"Conversation","language":"en-us"}}'
    )
    message = usp.parse_text(frame)
    assert message.path == "speech.context"
    assert message.request_id == "0123abcd0123abcd0123abcd0123abcd"
    assert message.json() == {"phraseDetection": {"mode": "Conversation", "language": "en-us"}}
    assert not message.binary


def test_header_names_are_case_insensitive_and_values_are_kept_as_sent():
    message = usp.parse_text("path:telemetry\r\nx-requestid:ABCDEF\r\n\r\n")
    assert message.path == "telemetry"
    assert message.header("X-RequestId") == "ABCDEF"  # the value keeps its case: the SDK compares it exactly
    assert message.json() is None


def test_binary_audio_frame():
    frame = sdk_binary_frame(
        "Path:audio\r\nX-RequestId:r1\r\nX-Timestamp:t\r\nContent-Type:audio/x-wav\r\nX-StreamId:1\r\n", SDK_WAV_HEADER
    )
    message = usp.parse_binary(frame)
    assert (message.path, message.request_id, message.header("x-streamid")) == ("audio", "r1", "1")
    assert message.body == SDK_WAV_HEADER
    assert message.binary


def test_empty_binary_payload_is_the_end_of_audio():
    message = usp.parse_binary(sdk_binary_frame("Path:audio\r\nX-RequestId:r1\r\nX-StreamId:2\r\n", b""))
    assert message.body == b""


@pytest.mark.parametrize(
    "frame, problem",
    [
        (b"\x00", "no header length"),
        (b"\x00\x50Path:audio\r\n", "exceeds the frame"),
        (sdk_binary_frame("X-RequestId:r1\r\n", b"pcm"), "no Path"),
        (sdk_binary_frame("Path audio\r\n", b""), "without a colon"),
    ],
)
def test_malformed_binary_frames_are_refused(frame, problem):
    with pytest.raises(usp.FramingError, match=problem):
        usp.parse_binary(frame)


def test_text_frame_without_the_empty_line_is_refused():
    with pytest.raises(usp.FramingError, match="no empty line"):
        usp.parse_text("Path:turn.start\r\nX-RequestId:r")


def test_outgoing_message_carries_request_id_path_and_json():
    out = usp.Outgoing("speech.phrase", "rid", {"RecognitionStatus": "Success", "DisplayText": "hi"},
                       (("X-Continuation-Audio-Streams-1-Offset", "5000000"),))
    parsed = usp.parse_text(out.encode())
    assert parsed.path == "speech.phrase"
    assert parsed.request_id == "rid"
    assert parsed.header("Content-Type") == "application/json; charset=utf-8"
    assert parsed.header("X-Continuation-Audio-Streams-1-Offset") == "5000000"
    assert parsed.header("X-Timestamp").endswith("Z")
    assert parsed.json() == {"RecognitionStatus": "Success", "DisplayText": "hi"}


def test_outgoing_without_body_has_an_empty_body_and_no_content_type():
    parsed = usp.parse_text(usp.Outgoing("turn.end", "rid").encode())
    assert parsed.body == b"" and parsed.header("Content-Type") is None


def test_binary_encoding_round_trip():
    frame = usp.encode_binary((("Path", "audio"), ("X-RequestId", "r")), b"\x01\x02")
    message = usp.parse_binary(frame)
    assert (message.path, message.request_id, message.body) == ("audio", "r", b"\x01\x02")


def test_request_ids_are_32_lower_hex():
    rid = usp.new_request_id()
    assert len(rid) == 32 and rid == rid.lower() and int(rid, 16) >= 0


def test_the_sdk_wav_header_is_service_pcm():
    wav = usp.parse_wav_header(SDK_WAV_HEADER)
    assert (wav.format_tag, wav.channels, wav.sample_rate, wav.bits_per_sample) == (1, 1, 16000, 16)
    assert wav.header_length == 44 and wav.is_service_pcm


def test_wav_header_followed_by_pcm_in_the_same_frame():
    wav = usp.parse_wav_header(SDK_WAV_HEADER + b"\x10\x00" * 8)
    assert wav.header_length == 44


def test_wav_header_with_an_extra_chunk_before_data():
    fmt_and_list = SDK_WAV_HEADER[:36] + b"LIST" + struct.pack("<I", 5) + b"abcde\x00" + SDK_WAV_HEADER[36:]
    wav = usp.parse_wav_header(fmt_and_list)
    assert wav.header_length == 44 + 14 and wav.is_service_pcm


@pytest.mark.parametrize(
    "rate, channels, bits, tag",
    [(8000, 1, 16, 1), (16000, 2, 16, 1), (16000, 1, 8, 1), (16000, 1, 16, 3)],
)
def test_other_formats_parse_but_are_not_service_pcm(rate, channels, bits, tag):
    header = bytearray(SDK_WAV_HEADER)
    struct.pack_into("<HHIIHH", header, 20, tag, channels, rate, rate * channels * bits // 8, channels * bits // 8, bits)
    wav = usp.parse_wav_header(bytes(header))
    assert (wav.sample_rate, wav.channels, wav.bits_per_sample, wav.format_tag) == (rate, channels, bits, tag)
    assert not wav.is_service_pcm


@pytest.mark.parametrize("payload", [b"\x00" * 44, b"RIFF\x00\x00\x00\x00WAVE", SDK_WAV_HEADER[:30]])
def test_not_a_wav_header(payload):
    with pytest.raises(usp.UnsupportedAudio):
        usp.parse_wav_header(payload)


def test_json_bodies_are_compact_like_the_service():
    text = usp.encode_text((("Path", "turn.start"), ("X-RequestId", "r")), {"context": {"serviceTag": "t"}})
    assert text.endswith('\r\n\r\n{"context":{"serviceTag":"t"}}')
    assert json.loads(text.split("\r\n\r\n", 1)[1]) == {"context": {"serviceTag": "t"}}
