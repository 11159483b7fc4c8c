"""The local web page's HTTP server: 127.0.0.1 only, every URL under a random token.

The token is the first path segment (``http://127.0.0.1:PORT/<token>/``) rather than a query
parameter so that a webview's relative asset URLs keep it. Requests without it get 403.
Pages are sent with ``Referrer-Policy: no-referrer`` so the token never leaks to other sites.
"""

from __future__ import annotations

import hmac
import logging
import secrets
import threading
import webbrowser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Optional
from urllib.parse import parse_qsl, unquote, urlsplit

from filebridge.host import Host
from filebridge.host.viewers import ViewerStore
from filebridge.ui.activity import Activity
from filebridge.ui.api import Api, Response

__all__ = ["UIServer"]

log = logging.getLogger("filebridge.ui")

PAGE_POLICY = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
               "connect-src 'self'; frame-src 'self' http: https:; object-src 'none'; "
               "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
MAX_BODY = 1 << 20


class UIServer:
    """Serve the page for ``host`` and ``store`` on 127.0.0.1:``port`` (0: any free port)."""

    def __init__(self, host: Host, store: ViewerStore, *, port: int = 0,
                 token: Optional[str] = None, bind: str = "127.0.0.1") -> None:
        self.token = token or secrets.token_urlsafe(24)
        self.activity = Activity()
        self.api = Api(host, store, self.activity)
        host.subscribe(self.activity.on_host_event)
        store.subscribe(self.activity.bump)
        self._httpd = ThreadingHTTPServer((bind, port), self._handler_class())
        self._httpd.daemon_threads = True
        self._thread: Optional[threading.Thread] = None

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/{self.token}/"

    def start(self) -> None:
        self._thread = threading.Thread(target=self._httpd.serve_forever,
                                        name="filebridge-ui", daemon=True)
        self._thread.start()

    def open_browser(self) -> None:
        webbrowser.open(self.url)

    def stop(self) -> None:
        self.activity.bump()  # release long polls
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            server_version = "filebridge-ui"
            sys_version = ""

            def log_message(self, format: str, *args: object) -> None:
                log.debug("%s %s", self.address_string(), format % args)

            def do_GET(self) -> None:
                self._serve("GET", b"")

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length > MAX_BODY:
                    self._send(Response.error(413, "request body too large"))
                    return
                self._serve("POST", self.rfile.read(length) if length else b"")

            def _serve(self, method: str, body: bytes) -> None:
                parts = urlsplit(self.path)
                segments = [unquote(s) for s in parts.path.split("/")[1:]]
                if not segments or not hmac.compare_digest(segments[0].encode(),
                                                           server.token.encode()):
                    self._send(Response.error(403, "this page needs the address printed by "
                                                   "`filebridge serve --ui`"))
                    return
                if len(segments) == 1:  # /<token> -> /<token>/ so relative URLs resolve
                    self._send(Response(302, "text/plain", b"",
                                        {"Location": f"/{server.token}/"}))
                    return
                query = dict(parse_qsl(parts.query, keep_blank_values=True))
                try:
                    response = server.api.handle(method, segments[1:], query, body)
                except Exception as exc:  # the server outlives any one bad request
                    log.exception("ui request failed: %s", self.path)
                    response = Response.error(500, f"{type(exc).__name__}: {exc}")
                self._send(response)

            def _send(self, response: Response) -> None:
                try:
                    self.send_response(response.status)
                    self.send_header("Content-Type", response.content_type)
                    self.send_header("Content-Length", str(len(response.body)))
                    self.send_header("Cache-Control", "no-store")
                    self.send_header("Referrer-Policy", "no-referrer")
                    self.send_header("X-Content-Type-Options", "nosniff")
                    headers = dict(response.headers)
                    headers.setdefault("Content-Security-Policy", PAGE_POLICY)
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(response.body)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        return Handler
