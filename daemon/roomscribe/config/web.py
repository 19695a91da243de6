"""The `web:` section: the room's live page (outputs/web/), and what `run` refuses about it.

On by default on 127.0.0.1, so the device's own screen works out of the box and nothing else can reach
it. Any other address needs an access token: without one `run` and `check-config` refuse the
configuration (exit 78, naming `web.access_token`). The controls need a token of their own
(`web.command_token`); without it the page is read-only and the server refuses commands.
Tokens are secrets with the same lookup order as the others (config/secrets.py).
"""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from typing import Annotated

from roomscribe.config.fields import Secret, Section, doc
from roomscribe.config.problems import MISSING, ConfigProblem

DEFAULT_PORT = 8470
MIN_TOKEN_CHARS = 16
# RFC 6750's bearer token characters: safe in an Authorization header, a cookie and a URL query alike.
TOKEN_PATTERN = re.compile(r"^[A-Za-z0-9._~+/-]+=*$")
MAKE_TOKEN = "python3 -c 'import secrets; print(secrets.token_urlsafe(24))'"


class WebSettings(Section, frozen=True):
    enabled: Annotated[bool, doc("serve the live page (transcript, state, past meetings) from the daemon")] = True
    host: Annotated[str, doc(
        "address to listen on; anything but a loopback address needs web.access_token", min_length=1)] = "127.0.0.1"
    port: Annotated[int, doc("TCP port of the page", ge=1, le=65535)] = DEFAULT_PORT
    access_token: Annotated[Secret | None, doc(
        "token to read the page; or access_token_file, $ROOMSCRIBE_WEB_ACCESS_TOKEN, or credential "
        "web-access-token")] = None
    access_token_file: Annotated[Path | None, doc("file holding the access token")] = None
    command_token: Annotated[Secret | None, doc(
        "token for the page's controls (pause, resume, start, stop, names); or command_token_file, "
        "$ROOMSCRIBE_WEB_COMMAND_TOKEN, or credential web-command-token")] = None
    command_token_file: Annotated[Path | None, doc("file holding the command token")] = None


def is_loopback(host: str) -> bool:
    """Only this device can connect: localhost, 127.0.0.0/8, ::1."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to any interface


def web_problems(settings) -> list[ConfigProblem]:
    """What `run` refuses about the page (exit 78): a listener beyond this device without an access token,
    a token too short or with characters a header or cookie cannot carry, one token for both roles."""
    web = settings.web
    if not web.enabled:
        return []
    problems: list[ConfigProblem] = []
    tokens = {}
    readers = (("web.access_token", settings.web_access_token), ("web.command_token", settings.web_command_token))
    for key, read in readers:
        try:
            tokens[key] = read()
        except (OSError, UnicodeDecodeError) as exc:  # the file's own problem is reported by file_problems
            problems.append(ConfigProblem(key, MISSING, f"the token cannot be read: {exc}"))
            tokens[key] = None
            continue
        if tokens[key] is not None and (problem := token_problem(tokens[key])):
            problems.append(ConfigProblem(key, MISSING, problem))
    access, command = tokens["web.access_token"], tokens["web.command_token"]
    if access is None and not is_loopback(web.host) and "web.access_token" not in {p.path for p in problems}:
        problems.append(ConfigProblem(
            "web.access_token", MISSING,
            f"web.host {web.host!r} is not a loopback address, so the page (live transcripts, past meetings) "
            "would be open to the network: set web.access_token (or web.access_token_file, "
            f"$ROOMSCRIBE_WEB_ACCESS_TOKEN, the credential web-access-token; make one with {MAKE_TOKEN}), "
            "or listen on 127.0.0.1"))
    if access is not None and access == command:
        problems.append(ConfigProblem("web.command_token", MISSING,
                                      "must differ from web.access_token: every reader of the page could command"))
    return problems


def token_problem(token: str) -> str | None:
    if len(token) < MIN_TOKEN_CHARS:
        return f"too short: at least {MIN_TOKEN_CHARS} characters (make one with {MAKE_TOKEN})"
    if not TOKEN_PATTERN.match(token):
        return ("may hold only letters, digits and . _ ~ + / - (then = at the end): it travels in HTTP headers "
                "and cookies")
    return None
