"""A feed server on 127.0.0.1 for tests: routes with bodies, ETags, failures and delays.

Nothing in the tests reaches the network: feeds are served from here, from bytes the
test builds or files of ``../shared/intel-samples`` read at request time.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Route:
    """What the server answers on one path."""

    body: bytes = b""
    status: int = 200
    etag: str = ""
    last_modified: str = ""
    delay: float = 0.0  # seconds before the status line (timeouts)
    truncate: bool = False  # announce the full length, send half, close
    content_type: str = "text/plain"
    content_encoding: str = ""
    location: str = ""  # with a 3xx status


@dataclass
class Seen:
    """One request the server received."""

    path: str
    headers: dict[str, str]


@dataclass
class FeedServer:
    """Routes by path, and every request seen (to assert conditional headers and keys)."""

    routes: dict[str, Route] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)
    port: int = 0

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    def hits(self, path: str) -> list[Seen]:
        return [s for s in self.seen if s.path.split("?", 1)[0] == path]


def _handler(server: FeedServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

        def do_GET(self) -> None:
            server.seen.append(Seen(self.path, {k.lower(): v for k, v in self.headers.items()}))
            route = server.routes.get(self.path.split("?", 1)[0])
            if route is None:
                self._send(404, b"not found")
                return
            if route.delay:
                time.sleep(route.delay)
            if route.status == 200 and (
                (route.etag and self.headers.get("If-None-Match") == route.etag)
                or (
                    route.last_modified
                    and self.headers.get("If-Modified-Since") == route.last_modified
                )
            ):
                self.send_response(304)
                self._validators(route)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            if route.status != 200:
                extra = {"Location": route.location} if route.location else {}
                self._send(route.status, b"server error\n", extra)
                return
            self.send_response(200)
            self.send_header("Content-Type", route.content_type)
            if route.content_encoding:
                self.send_header("Content-Encoding", route.content_encoding)
            self._validators(route)
            self.send_header("Content-Length", str(len(route.body)))
            if route.truncate:
                self.send_header("Connection", "close")
            self.end_headers()
            if route.truncate:
                self.wfile.write(route.body[: len(route.body) // 2])
                self.wfile.flush()
                self.close_connection = True
                return
            self.wfile.write(route.body)

        def _validators(self, route: Route) -> None:
            if route.etag:
                self.send_header("ETag", route.etag)
            if route.last_modified:
                self.send_header("Last-Modified", route.last_modified)

        def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return Handler


def serve() -> Iterator[FeedServer]:
    """Start a server on a free 127.0.0.1 port; stop it afterwards (a generator fixture)."""
    state = FeedServer()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    httpd.daemon_threads = True
    state.port = httpd.server_address[1]
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
