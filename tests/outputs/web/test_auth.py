"""Who may read and who may command (outputs/web/auth.py): pure decisions."""

from __future__ import annotations

import pytest

from roomscribe.outputs.web.auth import Tokens, bearer, command_status, host_allowed, host_name, may_read

ACCESS, COMMAND = "a" * 24, "c" * 24


def test_reading_needs_the_access_token_only_when_one_is_set():
    assert may_read(Tokens(), authorization=None, cookie=None)
    locked = Tokens(access=ACCESS)
    assert not may_read(locked, authorization=None, cookie=None)
    assert not may_read(locked, authorization=f"Bearer {COMMAND}", cookie="x", query="y")
    assert may_read(locked, authorization=f"Bearer {ACCESS}", cookie=None)
    assert may_read(locked, authorization=None, cookie=ACCESS)
    assert may_read(locked, authorization=None, cookie=None, query=ACCESS)
    assert not may_read(locked, authorization=None, cookie=ACCESS[:-1])
    assert not may_read(locked, authorization=None, cookie="\udcff")  # never an exception on odd input


def test_commands_need_the_command_token_as_a_bearer_token():
    assert command_status(Tokens(access=ACCESS), f"Bearer {ACCESS}") == 403  # controls off
    tokens = Tokens(access=ACCESS, command=COMMAND)
    assert command_status(tokens, None) == 401
    assert command_status(tokens, f"Bearer {ACCESS}") == 401  # reading is not commanding
    assert command_status(tokens, f"Basic {COMMAND}") == 401
    assert command_status(tokens, f"bearer  {COMMAND} ") == 200


@pytest.mark.parametrize("header, allowed", [
    ("localhost:8470", True), ("127.0.0.1:8470", True), ("127.0.0.2", True), ("[::1]:8470", True), ("::1", True),
    ("LOCALHOST", True), ("evil.example:8470", False), ("127.0.0.1.evil.example", False),
    ("127.evil.example", False), ("192.168.1.20:8470", False), ("", False), (None, False),
])
def test_without_an_access_token_only_loopback_names_are_answered(header, allowed):
    assert host_allowed(Tokens(), header) is allowed
    assert host_allowed(Tokens(access=ACCESS), header) is True  # with a token the token decides


def test_parsing_helpers():
    assert bearer("Bearer abc") == "abc" and bearer("Bearer ") is None and bearer(None) is None
    assert host_name("[::1]:80") == "::1" and host_name("Room.local:8470") == "room.local"
