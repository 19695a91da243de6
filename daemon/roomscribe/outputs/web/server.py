"""The page's aiohttp application: the static page, its feed, past meetings and exports, the controls.

    GET  /                                       the page (static/index.html; ?access_token= -> cookie)
    GET  /static/…                               its script and style, from the package
    GET  /api/info                               room, whether controls and history are on
    GET  /api/feed                               Server-Sent Events (feed.py)
    GET  /api/meetings                           past meetings, newest first
    GET  /api/meetings/{meeting}                 one meeting and its utterances
    GET  /api/meetings/{meeting}/export/{format} a download: txt, md, jsonl, vtt, srt (?tz=Europe/Berlin)
    POST /api/commands/{command}                 start, stop, pause, resume, name; bearer command token

Reads of the archive run on the output's executor, never on the loop. A command is parsed by the MQTT
commands' own parser (same rules, same refusals), handed to the owner exactly as an MQTT command is,
and answered with what the owner publishes for it: the state carrying its request_id (200; for a name,
the `speaker_named` event), or the `command_refused` event (409). A name's body is the JSON of
`<base>/speakers/set` (`{"speaker": "Guest-1", "name": "Alice"}`, schemas/speakers_set.schema.json).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import secrets
from concurrent.futures import Executor
from dataclasses import dataclass
from datetime import timezone
from pathlib import Path
from typing import Callable
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from aiohttp import web

from roomscribe.core.commands import COMMANDS, NAME
from roomscribe.outputs.archive.export import FORMATS
from roomscribe.outputs.mqtt.commands import MAX_COMMAND_BYTES, CommandRejected, OnCommand, parse_command
from roomscribe.outputs.web import auth, feed
from roomscribe.outputs.web.history import MeetingHistory, MeetingNotFound
from roomscribe.outputs.web.hub import LiveHub

log = logging.getLogger(__name__)

STATIC = Path(__file__).resolve().parent / "static"
COOKIE_MAX_AGE_S = 365 * 86400
MEETING_REFERENCE = r"{meeting:[A-Za-z0-9-]{1,128}}"
SECURITY_HEADERS = {
    # Only the page's own files; nothing inline, nothing from elsewhere, never inside another site's frame.
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
                               "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}
PAGE_COMMANDS = (*COMMANDS, NAME)
CONTENT_TYPES = {"txt": "text/plain", "md": "text/markdown", "jsonl": "application/x-ndjson", "vtt": "text/vtt",
                 "srt": "application/x-subrip"}


@dataclass
class Context:
    hub: LiveHub
    history: MeetingHistory | None
    tokens: auth.Tokens
    executor: Executor
    on_command: OnCommand | None
    command_answer_s: float
    room: str


CONTEXT = web.AppKey("context", Context)


def build_app(context: Context) -> web.Application:
    app = web.Application(middlewares=[_guard], client_max_size=64 * 1024)
    app[CONTEXT] = context
    app.router.add_get("/", _index)
    app.router.add_static("/static/", STATIC)
    app.router.add_get("/api/info", _info)
    app.router.add_get("/api/feed", _feed)
    app.router.add_get("/api/meetings", _meetings)
    app.router.add_get(f"/api/meetings/{MEETING_REFERENCE}", _transcript)
    app.router.add_get(f"/api/meetings/{MEETING_REFERENCE}/export/{{fmt}}", _export)
    app.router.add_post("/api/commands/{command}", _command)
    return app


# -- who may ------------------------------------------------------------------------------------------


@web.middleware
async def _guard(request: web.Request, handler) -> web.StreamResponse:
    context = request.app[CONTEXT]
    tokens = context.tokens
    if not auth.host_allowed(tokens, request.headers.get("Host")):
        # A name other than localhost on a listener without a token: a rebound DNS name, most likely.
        return _secured(_error(403, "this page answers only to localhost (set web.access_token to serve it "
                                    "under another name)"))
    if not request.path.startswith("/api/commands/"):
        query = request.query.get(auth.QUERY)
        if not auth.may_read(tokens, authorization=request.headers.get("Authorization"),
                             cookie=request.cookies.get(auth.COOKIE), query=query):
            return _secured(_unauthorized(request))
        if query is not None and tokens.access is not None and auth.same(query, tokens.access):
            return _secured(_token_to_cookie(request, query))
    try:
        response = await handler(request)
    except Failure as failure:
        response = _error(failure.status, failure.message, failure.headers)
    return _secured(response)


def _secured(response: web.StreamResponse) -> web.StreamResponse:
    if not response.prepared:  # the feed sends its own headers before it returns
        response.headers.update(SECURITY_HEADERS)
        response.headers.setdefault("Cache-Control", "no-store")
    return response


def _unauthorized(request: web.Request) -> web.Response:
    message = ("This page needs its access token: open it once as /?access_token=TOKEN "
               "(web.access_token in the daemon's configuration).")
    challenge = {"WWW-Authenticate": 'Bearer realm="roomscribe"'}
    if request.path.startswith("/api/"):
        return _error(401, message, challenge)
    return web.Response(status=401, text=message + "\n", content_type="text/plain", headers=challenge)


def _token_to_cookie(request: web.Request, token: str) -> web.Response:
    """The token leaves the address (history, bookmarks, screenshots) and lives on in an HttpOnly cookie."""
    query = {k: v for k, v in request.query.items() if k != auth.QUERY}
    response = web.Response(status=303, headers={"Location": str(request.rel_url.with_query(query))})
    response.set_cookie(auth.COOKIE, token, max_age=COOKIE_MAX_AGE_S, httponly=True, samesite="Strict", path="/")
    return response


# -- reading ------------------------------------------------------------------------------------------


async def _index(request: web.Request) -> web.StreamResponse:
    return web.FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})


async def _feed(request: web.Request) -> web.StreamResponse:
    return await feed.stream(request, request.app[CONTEXT])


async def _info(request: web.Request) -> web.Response:
    context = request.app[CONTEXT]
    return web.json_response({"room": context.room, "controls": context.tokens.command is not None,
                              "history": context.history is not None})


async def _meetings(request: web.Request) -> web.Response:
    return web.json_response({"meetings": await _read(request, lambda history: history.meetings())})


async def _transcript(request: web.Request) -> web.Response:
    reference = request.match_info["meeting"]
    meeting, utterances = await _read(request, lambda history: history.transcript(reference))
    return web.json_response({"meeting": meeting, "utterances": [u.to_payload() for u in utterances]})


async def _export(request: web.Request) -> web.Response:
    fmt = request.match_info["fmt"]
    if fmt not in FORMATS:
        raise Failure(404, f"no export format {fmt!r}; one of {', '.join(FORMATS)}")
    tz_name = request.query.get("tz", "UTC")
    try:
        tz = timezone.utc if tz_name == "UTC" else ZoneInfo(tz_name)
    except (ZoneInfoNotFoundError, ValueError):
        raise Failure(400, f"unknown time zone {tz_name[:64]!r}") from None
    reference = request.match_info["meeting"]
    meeting_id, text = await _read(request, lambda history: history.export(reference, fmt, tz))
    name = f"roomscribe-{request.app[CONTEXT].room}-{meeting_id[:8]}.{fmt}"
    return web.Response(text=text, content_type=CONTENT_TYPES[fmt], charset="utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{name}"'})


async def _read(request: web.Request, call):
    context = request.app[CONTEXT]
    if context.history is None:
        raise Failure(503, "the archive is switched off on this device (archive.enabled: false)")
    loop = asyncio.get_running_loop()
    try:
        return await loop.run_in_executor(context.executor, call, context.history)
    except MeetingNotFound as exc:
        raise Failure(404, str(exc)) from None
    except Exception as exc:  # noqa: BLE001  (a missing or unreadable archive is an answer, not a crash)
        log.warning("web: the archive could not be read: %s: %s", type(exc).__name__, exc)
        raise Failure(503, f"the archive could not be read ({type(exc).__name__})") from None


# -- commanding ---------------------------------------------------------------------------------------


async def _command(request: web.Request) -> web.Response:
    context = request.app[CONTEXT]
    status = auth.command_status(context.tokens, request.headers.get("Authorization"))
    if status == auth.FORBIDDEN:
        raise Failure(403, "the page's controls are off: web.command_token is not set on the device")
    if status == auth.UNAUTHORIZED:
        raise Failure(401, "commands need the command token (Authorization: Bearer …)",
                      {"WWW-Authenticate": 'Bearer realm="roomscribe-commands"'})
    name = request.match_info["command"]
    if name not in PAGE_COMMANDS:
        raise Failure(404, f"no command {name!r}; one of {', '.join(PAGE_COMMANDS)}")
    payload = await request.content.read(MAX_COMMAND_BYTES + 1)
    try:
        command = parse_command(name, payload)
    except CommandRejected as exc:
        raise Failure(400, exc.reason) from None
    if context.on_command is None:
        raise Failure(503, "the daemon does not take commands yet")
    request_id = command.request_id or f"web-{secrets.token_hex(6)}"
    command = dataclasses.replace(command, request_id=request_id)
    answer = context.hub.expect(request_id)
    log.info("web: %s from %s (request %s)", command.command, request.remote, command.request_id)
    context.on_command(command)  # the owner's hand-over, as for an MQTT command
    try:
        kind, payload = await asyncio.wait_for(answer, context.command_answer_s)
    except asyncio.TimeoutError:
        context.hub.forget(request_id)
        raise Failure(504, f"no answer from the daemon within {context.command_answer_s:.0f} s") from None
    if kind in ("state", "named"):
        return web.json_response({"request_id": command.request_id, kind: payload})
    return web.json_response({"request_id": command.request_id, "refused": payload}, status=409)


class Failure(Exception):
    """An answer other than success: the guard turns it into a JSON error response."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response({"error": message}, status=status, headers=headers)
