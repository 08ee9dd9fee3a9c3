"""A stand-in for the Hugging Face hub's model API on 127.0.0.1, for what a machine with hub access
sees (this one has no network): point HF_ENDPOINT at it. It answers `model_info` as the hub does, 200
for a model it knows and 404 RepoNotFound for any other; it serves no files."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MODELS_API = "/api/models/"


@contextmanager
def hub_stand_in(known: set[str] | None = None) -> Iterator[str]:
    """The endpoint (http://127.0.0.1:PORT) of a hub that knows the models `known` (None: any)."""

    class Hub(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            repo = self.path.split("?")[0].removeprefix(MODELS_API) if self.path.startswith(MODELS_API) else None
            if repo is not None and (known is None or repo in known):
                self._reply(200, {"id": repo, "sha": "0" * 40})
            else:
                self._reply(404, {"error": "Repository not found"}, {"X-Error-Code": "RepoNotFound"})

        def _reply(self, status: int, body: dict, headers: dict | None = None) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            for k, v in {"Content-Type": "application/json", "Content-Length": str(len(data)), **(headers or {})}.items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args) -> None:  # quiet
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Hub)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
