"""A local HTTP server for custom-tool tests: routes answered by Python functions,
every request recorded. Threads (http.server), so a route may sleep (a timeout test)
without holding up the test's event loop."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def json(self):
        return json.loads(self.body.decode())


@dataclass
class Answer:
    status: int = 200
    body: object = ""  # str, bytes, or anything JSON
    delay: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)


Route = Callable[[Seen], Answer]


class LocalHttp:
    def __init__(self) -> None:
        self.routes: dict[tuple[str, str], Route] = {}
        self.seen: list[Seen] = []
        self._server: ThreadingHTTPServer | None = None

    def route(self, method: str, path: str, handler: Route | Answer) -> None:
        self.routes[(method, path)] = handler if callable(handler) else (lambda _s: handler)

    def url(self, path: str = "") -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}{path}"

    def hits(self, path: str) -> list[Seen]:
        return [s for s in self.seen if s.path == path]

    def __enter__(self) -> LocalHttp:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # quiet
                pass

            def _serve(self) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                seen = Seen(
                    self.command,
                    parts.path,
                    parse_qs(parts.query),
                    {k.lower(): v for k, v in self.headers.items()},
                    self.rfile.read(length) if length else b"",
                )
                outer.seen.append(seen)
                route = outer.routes.get((self.command, parts.path))
                answer = route(seen) if route else Answer(404, {"error": "no route"})
                if answer.delay:
                    time.sleep(answer.delay)
                body = answer.body
                if not isinstance(body, str | bytes):
                    body = json.dumps(body, ensure_ascii=False)
                raw = body.encode() if isinstance(body, str) else body
                try:
                    self.send_response(answer.status)
                    for key, value in answer.headers.items():
                        self.send_header(key, value)
                    if "Content-Type" not in answer.headers:
                        self.send_header("Content-Type", "application/json; charset=utf-8")
                    self.send_header("Content-Length", str(len(raw)))
                    self.end_headers()
                    self.wfile.write(raw)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout test)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        assert self._server is not None
        self._server.shutdown()
        self._server.server_close()
