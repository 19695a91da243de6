"""USP framing, the Speech SDK's WebSocket message format (docs/emulator.md, /work/shared/usp-protocol.md §2).

Text frame:   "Name:Value\\r\\n" header lines, an empty line, then the body (JSON).
Binary frame: 2-byte big-endian length of the header block, the header lines, then the payload.
Header names are matched case-insensitively; header values (the request id above all) are not.
"""

from __future__ import annotations

import json
import struct
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

WAV_HEADER_MIN = 44


class FramingError(ValueError):
    """A frame that is not USP."""


class UnsupportedAudio(ValueError):
    """A turn's WAV header describes audio the service does not take."""


@dataclass(frozen=True)
class Message:
    path: str
    headers: tuple[tuple[str, str], ...]
    body: bytes
    binary: bool = False

    def header(self, name: str) -> str | None:
        wanted = name.lower()
        for key, value in self.headers:
            if key.lower() == wanted:
                return value
        return None

    @property
    def request_id(self) -> str | None:
        return self.header("X-RequestId")

    def json(self) -> Any:
        """The body as JSON; None when the body is empty."""
        text = self.body.decode("utf-8").strip()
        return json.loads(text) if text else None


@dataclass(frozen=True)
class WavFormat:
    format_tag: int  # 1 = PCM
    channels: int
    sample_rate: int
    bits_per_sample: int
    header_length: int  # bytes up to and including the "data" chunk header

    @property
    def is_service_pcm(self) -> bool:
        return (self.format_tag, self.channels, self.sample_rate, self.bits_per_sample) == (1, 1, 16000, 16)


def _parse_header_lines(block: str) -> tuple[tuple[str, str], ...]:
    headers = []
    for line in block.split("\r\n"):
        if not line:
            continue
        name, colon, value = line.partition(":")
        if not colon:
            raise FramingError(f"header line without a colon: {line[:80]!r}")
        headers.append((name.strip(), value.strip()))
    return tuple(headers)


def _path_of(headers: tuple[tuple[str, str], ...]) -> str:
    for name, value in headers:
        if name.lower() == "path":
            return value
    raise FramingError("frame has no Path header")


def parse_text(frame: str) -> Message:
    head, separator, body = frame.partition("\r\n\r\n")
    if not separator:
        raise FramingError("text frame has no empty line between headers and body")
    headers = _parse_header_lines(head)
    return Message(_path_of(headers), headers, body.encode("utf-8"))


def parse_binary(frame: bytes) -> Message:
    if len(frame) < 2:
        raise FramingError(f"binary frame of {len(frame)} bytes has no header length")
    (length,) = struct.unpack_from(">H", frame)
    if 2 + length > len(frame):
        raise FramingError(f"binary header length {length} exceeds the frame ({len(frame)} bytes)")
    try:
        block = frame[2 : 2 + length].decode("ascii")
    except UnicodeDecodeError as exc:
        raise FramingError(f"binary frame headers are not ASCII: {exc}") from None
    headers = _parse_header_lines(block)
    return Message(_path_of(headers), headers, frame[2 + length :], binary=True)


def timestamp() -> str:
    """The X-Timestamp format: ISO 8601 UTC with milliseconds and Z."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class Outgoing:
    """A service-to-client text message before encoding (the record keeps these)."""

    path: str
    request_id: str
    body: dict[str, Any] | None = None
    extra_headers: tuple[tuple[str, str], ...] = field(default=())

    def headers(self) -> tuple[tuple[str, str], ...]:
        base = [("X-RequestId", self.request_id), ("Path", self.path)]
        if self.body is not None:
            base.append(("Content-Type", "application/json; charset=utf-8"))
        base.append(("X-Timestamp", timestamp()))
        return tuple(base) + self.extra_headers

    def encode(self) -> str:
        return encode_text(self.headers(), self.body)


def encode_text(headers: tuple[tuple[str, str], ...], body: Any = None) -> str:
    head = "".join(f"{name}:{value}\r\n" for name, value in headers)
    text = "" if body is None else json.dumps(body, separators=(",", ":"))
    return f"{head}\r\n{text}"


def encode_binary(headers: tuple[tuple[str, str], ...], payload: bytes) -> bytes:
    block = "".join(f"{name}:{value}\r\n" for name, value in headers).encode("ascii")
    return struct.pack(">H", len(block)) + block + payload


def new_request_id() -> str:
    return uuid.uuid4().hex


def parse_wav_header(payload: bytes) -> WavFormat:
    """The format of a turn's leading RIFF header; UnsupportedAudio names what is wrong with it."""
    if len(payload) < 12 or payload[:4] != b"RIFF" or payload[8:12] != b"WAVE":
        raise UnsupportedAudio("the first audio frame of a turn is not a RIFF/WAVE header")
    position = 12
    fmt: tuple[int, int, int, int] | None = None
    while position + 8 <= len(payload):
        chunk_id = payload[position : position + 4]
        (size,) = struct.unpack_from("<I", payload, position + 4)
        if chunk_id == b"fmt ":
            if size < 16 or position + 24 > len(payload):
                raise UnsupportedAudio("the WAV fmt chunk is truncated")
            tag, channels, rate, _, _, bits = struct.unpack_from("<HHIIHH", payload, position + 8)
            fmt = (tag, channels, rate, bits)
        elif chunk_id == b"data":
            if fmt is None:
                raise UnsupportedAudio("the WAV header has a data chunk before its fmt chunk")
            return WavFormat(*fmt, header_length=position + 8)
        position += 8 + size + (size & 1)
    raise UnsupportedAudio("the WAV header has no data chunk")
