"""The secret that lets one user, and nobody else on the machine, into `workbench serve`.

A login node is shared and anyone there can connect to a loopback port, so every request (the page, its
static files, the websocket that drives the app, downloads) must carry the token: in the URL the server
prints (`?token=...`), or in the cookie set by the first request that carried it, so the page's own
sub-requests get in. Random per start; the URL is kept in a file of the user's state folder, mode 0600,
removed when the server stops; never in the store, a run folder or a log.
"""

from __future__ import annotations

import hmac
import os
import secrets
from pathlib import Path

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware


def new_token() -> str:
    return secrets.token_urlsafe(32)


def state_dir() -> Path:
    """$XDG_STATE_HOME/workbench/serve, else ~/.local/state/workbench/serve (not created)."""
    base = os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state"
    return Path(base).expanduser() / "workbench" / "serve"


def write_url_file(port: int, url: str) -> Path:
    """The URL with its token, in `state_dir()/PORT.url`, readable and writable by the user alone."""
    folder = state_dir()
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = folder / f"{port}.url"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    try:
        os.fchmod(fd, 0o600)  # a file left by an earlier start keeps the mode it had: set it
        os.write(fd, f"{url}\n".encode())
    finally:
        os.close(fd)
    return path


def cookie_name(port: int) -> str:
    """Per port: a browser keeps cookies per host, not per port, and two servers may run on one host."""
    return f"workbench-serve-{port}"


def require_token(token: str, port: int) -> Middleware:
    """An aiohttp middleware refusing every request without the token: 401 without one, 403 with a wrong
    one, and 403 for a websocket opened from another site's page (its Origin is not this server)."""
    expected = token.encode()
    cookie = cookie_name(port)

    def matches(given: str | None) -> bool:
        return given is not None and hmac.compare_digest(given.encode(), expected)

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        in_url, in_cookie = request.query.get("token"), request.cookies.get(cookie)
        if not (matches(in_url) or matches(in_cookie)):
            if in_url is None and in_cookie is None:
                raise web.HTTPUnauthorized(text="workbench serve: open the URL it printed (with its token)\n")
            raise web.HTTPForbidden(text="workbench serve: wrong token\n")
        origin = request.headers.get("Origin")
        if origin is not None and origin.split("://", 1)[-1] != request.host:
            raise web.HTTPForbidden(text="workbench serve: a page of another site\n")
        response = await handler(request)
        if not response.prepared:  # a websocket's handshake has gone out already
            response.headers["Referrer-Policy"] = "no-referrer"  # the page's URL holds the token: never sent on
            if matches(in_url):
                response.set_cookie(cookie, token, httponly=True, samesite="Strict", path="/")
        return response

    return middleware
