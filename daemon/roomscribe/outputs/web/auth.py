"""Who may read the page and who may command from it: pure decisions, no HTTP library.

* Reading (the page, its feed, past meetings, exports): anyone who reaches the listener when no access
  token is set (then the listener is on loopback: config/web.py refuses anything else), otherwise a
  request carrying the access token: `Authorization: Bearer TOKEN`, the page's cookie, or once as
  `?access_token=TOKEN` (the server turns that into the cookie and takes it out of the address).
* Without an access token only loopback host names are answered (the `Host` header): a web site the
  browser visits cannot rebind its own name to 127.0.0.1 and read the page through it.
* Commanding: only with the command token as `Authorization: Bearer TOKEN` (never a cookie, so another
  site cannot make the browser send it); none configured: every command is refused (403).
Tokens are compared in constant time.
"""

from __future__ import annotations

import hmac
import ipaddress
from dataclasses import dataclass

COOKIE = "roomscribe_access"
QUERY = "access_token"

OK, UNAUTHORIZED, FORBIDDEN = 200, 401, 403


@dataclass(frozen=True)
class Tokens:
    access: str | None = None
    command: str | None = None


def same(given: str | None, expected: str) -> bool:
    return given is not None and hmac.compare_digest(given.encode("utf-8", "surrogatepass"),
                                                     expected.encode("utf-8"))


def bearer(authorization: str | None) -> str | None:
    """The token of an `Authorization: Bearer …` header, else None."""
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    return (token.strip() or None) if scheme.lower() == "bearer" else None


def may_read(tokens: Tokens, *, authorization: str | None, cookie: str | None, query: str | None = None) -> bool:
    if tokens.access is None:
        return True
    return any(same(given, tokens.access) for given in (bearer(authorization), cookie, query))


def command_status(tokens: Tokens, authorization: str | None) -> int:
    """200 when the request carries the command token; 403 when commands are off; 401 otherwise."""
    if tokens.command is None:
        return FORBIDDEN
    return OK if same(bearer(authorization), tokens.command) else UNAUTHORIZED


def host_allowed(tokens: Tokens, host_header: str | None) -> bool:
    """Without an access token, only requests addressed to a loopback name (the DNS rebinding guard)."""
    if tokens.access is not None:
        return True
    name = host_name(host_header or "")
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def host_name(host_header: str) -> str:
    """`[::1]:8470` -> `::1`, `localhost:8470` -> `localhost`, lower case."""
    host = host_header.strip().lower()
    if host.startswith("["):
        return host[1:].split("]", 1)[0]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host
