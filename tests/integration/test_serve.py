"""`workbench serve` lets its user alone in: every route (the page, its static files, the websocket that
drives the app, downloads) refuses a request without the token (401) or with a wrong one (403), from this
user or another local one; the token lives only in the printed URL and a 0600 file removed at stop."""

from __future__ import annotations

import asyncio
import os
import pwd
import shutil
import signal
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.integration.serving import serving

ROUTES = ("/", "/static/js/textual.js", "/ws", "/download/anything")


@pytest.fixture
def serve_env(tmp_path):
    return {"WORKBENCH_STORE": str(tmp_path / "store" / "runs.duckdb"), "XDG_STATE_HOME": str(tmp_path / "state")}


def status_of(url: str, headers: dict[str, str] | None = None) -> int:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=30) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def test_every_route_refuses_a_request_without_the_token_or_with_a_wrong_one(serve_env):
    with serving(serve_env) as s:
        cookie = f"workbench-serve-{s.port}"
        for route in ROUTES:
            assert status_of(s.base + route) == 401, route
            assert status_of(f"{s.base}{route}?token=x{s.token}") == 403, route
            assert status_of(s.base + route, {"Cookie": f"{cookie}=not-it"}) == 403, route
        # The printed URL opens the page and sets the cookie its own sub-requests then carry.
        with urllib.request.urlopen(s.url, timeout=30) as r:
            assert r.status == 200 and "textual-terminal" in r.read().decode()
            set_cookie = r.headers["Set-Cookie"]
            assert r.headers["Referrer-Policy"] == "no-referrer"  # the page's fetches elsewhere (its font) carry no token
        assert set_cookie.startswith(f"{cookie}={s.token};") and "HttpOnly" in set_cookie
        assert status_of(s.base + "/static/js/textual.js", {"Cookie": f"{cookie}={s.token}"}) == 200
        # Another site's page cannot drive the app with the user's cookie.
        assert status_of(s.base + "/ws", {"Cookie": f"{cookie}={s.token}", "Origin": "http://evil.example"}) == 403


def test_the_websocket_handshake_without_the_token_is_refused(serve_env):
    import aiohttp

    async def handshake(url: str) -> int:
        async with aiohttp.ClientSession() as session:
            try:
                async with session.ws_connect(url):
                    return 101
            except aiohttp.WSServerHandshakeError as e:
                return e.status

    with serving(serve_env) as s:
        assert asyncio.run(handshake(f"ws://127.0.0.1:{s.port}/ws")) == 401
        assert asyncio.run(handshake(f"ws://127.0.0.1:{s.port}/ws?token=wrong")) == 403


def test_the_token_is_in_the_printed_url_and_a_file_of_the_user_alone_and_nowhere_else(serve_env, tmp_path):
    with serving(serve_env) as s:
        assert stat.S_IMODE(s.url_file.stat().st_mode) == 0o600
        assert stat.S_IMODE(s.url_file.parent.stat().st_mode) == 0o700
        assert s.url_file.read_text() == s.url + "\n"
        assert status_of(s.url) == 200 and status_of(s.base + "/") == 401
    assert s.stdout_after == "" and s.token not in s.stderr  # no access log, nothing more
    for path in (tmp_path / "store").rglob("*") if (tmp_path / "store").exists() else ():
        assert path.is_dir() or s.token.encode() not in path.read_bytes(), path


def test_the_ssh_session_closing_stops_the_server_and_its_url_file_goes(serve_env):
    with serving(serve_env) as s:
        os.kill(s.pid, signal.SIGHUP)  # serving() checks: exit status 0, the URL file gone
        assert wait_for_exit(s.pid)


def wait_for_exit(pid: int, timeout: float = 60) -> bool:
    deadline = time.monotonic() + timeout
    while Path(f"/proc/{pid}/status").exists() and "zombie" not in Path(f"/proc/{pid}/status").read_text():
        assert time.monotonic() < deadline, "the server outlived its SIGHUP"
        time.sleep(0.05)
    return True


def test_a_second_start_gets_another_token(serve_env):
    with serving(serve_env) as first, serving(serve_env) as second:
        assert first.token != second.token and first.port != second.port


OTHER_USER = "wbserve-other"


def other_user() -> pwd.struct_passwd:
    """A local user other than this one, created when missing (needs root and useradd)."""
    try:
        return pwd.getpwnam(OTHER_USER)
    except KeyError:
        pass
    if os.geteuid() != 0 or shutil.which("useradd") is None:
        pytest.skip("another local user is needed: the tests create one as root with useradd, and this is neither")
    subprocess.run(["useradd", "--no-create-home", "--shell", "/usr/sbin/nologin", OTHER_USER], check=True)
    return pwd.getpwnam(OTHER_USER)


def test_another_local_user_is_refused(serve_env):
    user = other_user()
    with serving(serve_env) as s:
        code = (
            "import encodings.idna, os, sys, urllib.request, urllib.error\n"  # before the files turn unreadable

            f"os.setgid({user.pw_gid}); os.setgroups([]); os.setuid({user.pw_uid})\n"
            "try:\n"
            f"    open({str(s.url_file)!r}).read(); print('read the URL file')\n"
            "except PermissionError:\n"
            "    print('URL file refused')\n"
            "for url in sys.argv[1:]:\n"
            "    try:\n"
            "        print(urllib.request.urlopen(url, timeout=30).status)\n"
            "    except urllib.error.HTTPError as e:\n"
            "        print(e.code)\n"
        )
        # -I: the other user reads none of this user's site files; the interpreter itself is run as root,
        # then drops to the other user before it touches the file or the port.
        out = subprocess.run([sys.executable, "-I", "-c", code, s.base + "/", s.base + "/?token=guess"],
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        assert out.stdout.split("\n")[:3] == ["URL file refused", "401", "403"]


def test_bad_port_taken_port_and_missing_extra_are_one_line_each(cli, serve_env):
    out = cli("serve", "--port", "70000", env=serve_env)
    assert out.returncode == 2 and out.stderr.strip().splitlines() == [
        "error: --port 70000: expected a port number from 0 to 65535 (0: a free one)"]
    with serving(serve_env) as s:
        out = cli("serve", "--port", str(s.port), env=serve_env)
        assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1
        assert f"--port {s.port}: already in use" in out.stderr
    # Without textual-serve: the one line names the extra.
    code = "import sys; sys.modules['textual_serve'] = None; from workbench.cli import main; sys.exit(main(['serve']))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         env={**os.environ, **serve_env})
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [
        "error: workbench serve needs textual-serve, which is not installed: pip install 'workbench[serve]'"]


def test_another_host_than_loopback_is_warned_about(serve_env):
    with serving(serve_env, "--host", "0.0.0.0") as s:
        assert status_of(s.base + "/") == 401
    warning = s.stderr.strip().splitlines()
    assert len(warning) == 1 and warning[0].startswith("warning: --host 0.0.0.0: anyone who can reach this machine")
