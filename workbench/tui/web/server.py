"""The web server of `workbench serve`: textual-serve's Server, each browser tab a process of the same app
(served_app.py) on the same store, with the environment the server has (WORKBENCH_RECIPES, ...), behind
the token of access.py. Closing a tab ends that tab's app process only: the runs it launched are
supervised in their own sessions and go on."""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import logging
import os
import shlex
import signal
import socket
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiohttp import web
from textual_serve.server import Server

from workbench.errors import UserError
from workbench.tui.web.access import new_token, require_token, write_url_file


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def app_command(store: Path) -> str:
    """The shell command textual-serve starts per tab: this Python, the app, the store."""
    return f"{shlex.quote(sys.executable)} -m workbench.tui.web.served_app {shlex.quote(str(store))}"


class TokenServer(Server):
    """textual-serve's server with every route behind the token, its URLs made from the address the
    browser used (a forwarded port reaches it as localhost:PORT), no banner and no access log (URLs
    carry the token)."""

    def __init__(self, command: str, host: str, port: int, token: str) -> None:
        super().__init__(command, host=host, port=port, title="workbench")
        self.token = token

    def initialize_logging(self) -> None:
        logging.getLogger("textual-serve").setLevel(logging.WARNING)

    async def on_startup(self, app: web.Application) -> None:
        pass  # textual-serve prints a banner here; serve() prints the one line `open: URL`

    async def handle_index(self, request: web.Request) -> Any:
        self.public_url = f"{request.scheme}://{request.host}"  # no await before the page is rendered
        return await super().handle_index(request)

    async def run(self, on_open: Callable[[str], None]) -> None:
        try:
            sock = socket.create_server((self.host, self.port), family=_family(self.host))
        except OSError as e:
            raise UserError(_bind_error(self.host, self.port, e)) from None
        self.port = sock.getsockname()[1]  # --port 0: the free port the system gave
        app = await self._make_app()
        app.middlewares.append(require_token(self.token, self.port))
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        try:
            await web.SockSite(runner, sock).start()
            url_file = write_url_file(self.port, self.url())
            try:
                stop = asyncio.Event()
                loop = asyncio.get_running_loop()
                # SIGHUP: the ssh session closed; left alone where ignored (nohup keeps the server)
                hangup = [signal.SIGHUP] if signal.getsignal(signal.SIGHUP) is not signal.SIG_IGN else []
                for sig in (signal.SIGINT, signal.SIGTERM, *hangup):
                    loop.add_signal_handler(sig, stop.set)
                on_open(self.url())
                await stop.wait()
            finally:
                url_file.unlink(missing_ok=True)
        finally:
            await runner.cleanup()

    def url(self) -> str:
        """The URL to open, with the token: on this machine's loopback when the server listens everywhere."""
        host = {"0.0.0.0": "127.0.0.1", "::": "[::1]", "": "127.0.0.1"}.get(self.host, self.host)
        if ":" in host and not host.startswith("["):
            host = f"[{host}]"
        return f"http://{host}:{self.port}/?token={self.token}"


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def _bind_error(host: str, port: int, e: OSError) -> str:
    if e.errno == errno.EADDRINUSE:
        return f"--port {port}: already in use on {host} (another server?); pick another, or --port 0 for a free one"
    return f"--host {host}: cannot listen there on port {port} ({os.strerror(e.errno) if e.errno else e})"


def serve(store: Path, host: str, port: int, on_open: Callable[[str], None]) -> None:
    """Serve the app on the store until SIGINT / SIGTERM / SIGHUP; `on_open(url)` once it listens (the URL with
    the token)."""
    server = TokenServer(app_command(store), host, port, new_token())
    server.initialize_logging()
    asyncio.run(server.run(on_open))
