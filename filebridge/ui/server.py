"""The local web page's HTTP servers: loopback only, two origins, a capability per view.

- The **page** (``http://127.0.0.1:PORT/<token>/``): the page, its API, plots. Every URL starts
  with the random token (a path segment, so relative URLs keep it).
- The **views** (``http://127.0.0.1:VIEW_PORT/<capability>/<file>``): webviews and help pages,
  the only HTML a worker writes. Each view has its own unguessable capability that opens that
  view's files and nothing else; the port differs, so worker HTML is never same-origin with the
  page, and it runs sandboxed (an opaque origin, no network).

Both refuse a ``Host`` header that is not the bound address (DNS rebinding). The page refuses
requests a browser marks as coming from another origin (``Origin``, ``Sec-Fetch-Site``) and
requires its own ``Origin`` on anything but GET and HEAD. docs/security.md explains the design.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import mimetypes
import secrets
import select
import socket
import threading
import webbrowser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable, Optional
from urllib.parse import parse_qsl, quote, unquote, urlsplit

from filebridge.errors import RemoteError
from filebridge.features import features, load
from filebridge.host import Host
from filebridge.host.viewers.store import ViewerStore
from filebridge.ui.activity import Activity
from filebridge.ui.api import HEALTH_LOOK, Api, Response
from filebridge.ui.capabilities import ViewCapabilities
from filebridge.ui.host_health import STALL_AFTER
from filebridge.ui.panels import PagePanels
from filebridge.ui.prompts import PAGE_GONE_AFTER, PagePrompts, install_prompt_handler

__all__ = ["UIServer", "allowed_hosts"]

log = logging.getLogger("filebridge.ui")

PAGE_POLICY = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
               "connect-src 'self'; frame-src 'self' http: https:; object-src 'none'; "
               "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
# Worker HTML: sandboxed without allow-same-origin, so its scripts run in an opaque origin;
# no fetch, XHR, WebSocket or form posts; framed only by the page.
VIEW_POLICY = ("sandbox allow-scripts allow-popups allow-forms allow-modals; "
               "default-src 'self' 'unsafe-inline' 'unsafe-eval' data: blob:; "
               "connect-src 'none'; form-action 'none'; base-uri 'self'; "
               "frame-ancestors {ancestors}")
MAX_BODY = 1 << 20
SAFE_METHODS = ("GET", "HEAD")


def allowed_hosts(bind: str, port: int) -> frozenset[str]:
    """The ``Host`` header values that name this server (anything else may be DNS rebinding)."""
    names = {f"{bind}:{port}"}
    try:
        address = ipaddress.ip_address(bind)
    except ValueError:
        address = None
    if address is not None and address.version == 6:
        names = {f"[{bind}]:{port}"}
    if address is not None and address.is_loopback:
        names.add(f"localhost:{port}")
    return frozenset(names)


# How often a server's loop looks whether it was asked to stop: what stopping the page waits.
STOP_LOOK = 0.1


class _Server(ThreadingHTTPServer):
    daemon_threads = True


class _Base(BaseHTTPRequestHandler):
    """What both servers share: the Host check, security headers, never a traceback out."""

    server_version = "filebridge-ui"
    sys_version = ""

    def _hosts(self) -> frozenset[str]:
        raise NotImplementedError

    def log_message(self, format: str, *args: object) -> None:
        log.debug("%s %s", self.address_string(), format % args)

    def _host_ok(self) -> bool:
        host = self.headers.get("Host", "")
        if host.lower() in self._hosts():
            return True
        self._send(Response.error(421, "this server answers only to its own address"))
        return False

    def _security_headers(self) -> dict[str, str]:
        return {"Content-Security-Policy": PAGE_POLICY}

    def _send(self, response: Response) -> None:
        try:
            self.send_response(response.status)
            self.send_header("Content-Type", response.content_type)
            self.send_header("Content-Length", str(len(response.body)))
            self.send_header("Cache-Control", "no-store")
            self.send_header("Referrer-Policy", "no-referrer")
            self.send_header("X-Content-Type-Options", "nosniff")
            headers = self._security_headers()
            headers.update(response.headers)
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(response.body)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def _refuse_method(self) -> None:
        if self._host_ok():
            self._send(Response.error(405, f"{self.command} is not accepted here"))

    do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _refuse_method


class UIServer:
    """Serve the page for ``host`` and ``store`` on ``bind``:``port`` (0: any free port), and
    the views on ``bind``:``view_port``."""

    def __init__(self, host: Host, store: ViewerStore, *, port: int = 0,
                 token: Optional[str] = None, bind: str = "127.0.0.1",
                 view_port: int = 0, health_look: float = HEALTH_LOOK,
                 page_gone_after: float = PAGE_GONE_AFTER,
                 stall_after: float = STALL_AFTER) -> None:
        """``health_look``: how often a long poll of the page's state looks at the host's
        health and whether its page was closed (a host that stops or stalls makes no event
        to end it sooner). ``page_gone_after``: seconds without a long poll after which no
        page counts as open (a prompt then fails instead of waiting). ``stall_after``:
        seconds without a host heartbeat after which the page says the host is stalled."""
        self.panels = PagePanels(load(reference) for feature in features()
                                 for reference in feature.panels)
        self.token = token or secrets.token_urlsafe(24)
        self.bind = bind
        self.activity = Activity()
        self.capabilities = ViewCapabilities()
        self._page = _Server((bind, port), self._page_handler())
        self._views = _Server((bind, view_port), self._view_handler())
        self.prompts = PagePrompts(self.activity, page_gone_after)
        install_prompt_handler(host, self.prompts)
        self.api = Api(host, store, self.activity, self.capabilities, self.view_base,
                       self.prompts, self.panels, health_look=health_look,
                       stall_after=stall_after)
        host.subscribe(self.activity.on_host_event)
        store.subscribe(self.activity.bump)
        store.subscribe(self._views_changed)
        self.store = store
        self._threads: list[threading.Thread] = []

    @property
    def port(self) -> int:
        return int(self._page.server_address[1])

    @property
    def view_port(self) -> int:
        return int(self._views.server_address[1])

    def _origin(self, port: int) -> str:
        host = f"[{self.bind}]" if ":" in self.bind else self.bind
        return f"http://{host}:{port}"

    @property
    def url(self) -> str:
        return f"{self._origin(self.port)}/{self.token}/"

    @property
    def view_base(self) -> str:
        """The views origin; a view's address is ``view_base/<capability>/<page>``."""
        return self._origin(self.view_port)

    def view_url(self, session_id: str, view_id: str) -> str:
        """The address of a webview's or help page's page (its capability inside)."""
        view = self.store.view(session_id, view_id)
        capability = self.capabilities.grant(session_id, view_id)
        return f"{self.view_base}/{capability}/{quote(view.page)}"

    def start(self) -> None:
        for name, server in (("filebridge-ui", self._page), ("filebridge-views", self._views)):
            thread = threading.Thread(target=server.serve_forever, args=(STOP_LOOK,),
                                      name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def open_browser(self) -> None:
        webbrowser.open(self.url)

    def stop(self) -> None:
        self.activity.bump()  # release long polls
        # Both servers told at once: each ends at its next look for a stop request.
        stopping = [threading.Thread(target=server.shutdown, daemon=True)
                    for server in (self._page, self._views) if self._threads]
        for thread in stopping:
            thread.start()
        for thread in stopping:
            thread.join(timeout=5)
        for server in (self._page, self._views):
            server.server_close()
        for thread in self._threads:
            thread.join(timeout=5)

    def _views_changed(self, session_id: str) -> None:
        """Revoke the capabilities of views that are gone (closed, dropped, or their session)."""
        self.capabilities.keep_only(session_id, {v.id for v in self.store.views(session_id)})

    # -- the page ------------------------------------------------------------------------

    def _page_handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class PageHandler(_Base):
            def _hosts(self) -> frozenset[str]:
                return allowed_hosts(server.bind, server.port)

            def do_GET(self) -> None:
                self._serve(b"")

            do_HEAD = do_GET

            def do_POST(self) -> None:
                try:
                    length = int(self.headers.get("Content-Length") or 0)
                except ValueError:
                    length = -1
                if not 0 <= length <= MAX_BODY:
                    if self._host_ok():
                        self._send(Response.error(413, "request body too large or unreadable"))
                    return
                self._serve(self.rfile.read(length) if length else b"")

            def _same_origin(self) -> bool:
                """Refuse what a browser says comes from elsewhere; state changes need proof."""
                origin = self.headers.get("Origin")
                fetch_site = self.headers.get("Sec-Fetch-Site")
                own = "http://" + self.headers.get("Host", "").lower()
                if origin is not None and origin.lower() != own:
                    return False
                if fetch_site is not None and fetch_site not in ("same-origin", "none"):
                    return False
                return self.command in SAFE_METHODS or origin is not None

            def _caller_left(self) -> bool:
                """Whether the browser closed this connection while its request waits: it
                sends nothing more before the answer, so a readable socket means its end."""
                try:
                    readable, _, _ = select.select([self.connection], [], [], 0)
                    return bool(readable) and self.connection.recv(1, socket.MSG_PEEK) == b""
                except OSError:
                    return True

            def _serve(self, body: bytes) -> None:
                if not self._host_ok():
                    return
                if not self._same_origin():
                    self._send(Response.error(403, "requests from other origins are refused"))
                    return
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
                method = "GET" if self.command == "HEAD" else self.command
                try:
                    response = server.api.handle(method, segments[1:], query, body,
                                                 self._caller_left)
                except Exception as exc:  # the server outlives any one bad request
                    log.exception("ui request failed: %s", self.path)
                    response = Response.error(500, f"{type(exc).__name__}: {exc}")
                self._send(response)

        return PageHandler

    # -- the views -----------------------------------------------------------------------

    def _view_handler(self) -> type[BaseHTTPRequestHandler]:
        server = self
        lookup: Callable[[str], Optional[tuple[str, str]]] = server.capabilities.lookup

        class ViewHandler(_Base):
            def _hosts(self) -> frozenset[str]:
                return allowed_hosts(server.bind, server.view_port)

            def _security_headers(self) -> dict[str, str]:
                ancestors = " ".join(f"http://{h}" for h in
                                     sorted(allowed_hosts(server.bind, server.port)))
                return {"Content-Security-Policy": VIEW_POLICY.format(ancestors=ancestors)}

            def do_GET(self) -> None:
                if not self._host_ok():
                    return
                segments = [unquote(s) for s in urlsplit(self.path).path.split("/")[1:]]
                found = lookup(segments[0]) if segments else None
                if found is None:
                    self._send(Response.error(404, "no such view"))
                    return
                session_id, view_id = found
                if len(segments) == 1:  # /<capability> -> its page, so relative URLs resolve
                    try:
                        location = server.view_url(session_id, view_id)
                    except RemoteError:
                        location = "/"
                    self._send(Response(302, "text/plain", b"", {"Location": location}))
                    return
                try:
                    name, data = server.store.view_file(session_id, view_id, segments[1:])
                except RemoteError as exc:
                    status = {"not_found": 404, "refused": 403, "too_large": 413}
                    self._send(Response.error(status.get(exc.code, 400), exc.remote_message))
                    return
                except Exception as exc:  # the server outlives any one bad request
                    log.exception("view request failed: %s", self.path)
                    self._send(Response.error(500, f"{type(exc).__name__}: {exc}"))
                    return
                self._send(Response(200, _content_type(name), data))

            do_HEAD = do_GET

            def do_POST(self) -> None:
                self._refuse_method()

        return ViewHandler


def _content_type(name: str) -> str:
    kind = mimetypes.guess_type(name)[0] or "application/octet-stream"
    if kind.startswith("text/") or kind in ("application/javascript", "application/json"):
        kind += "; charset=utf-8"
    return kind
