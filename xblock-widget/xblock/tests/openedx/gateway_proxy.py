"""A recording proxy in front of the real gateway (tests/openedx/real_gateway.py), which also simulates what the
gateway cannot be asked to do on cue: being down, a 5xx, a redirect, a refused or short-lived token.

Every answer comes from the real gateway, except the simulated failures:

- ``stop()``: the port refuses connections (the gateway is down);
- ``fail(status, times, endpoint)``: the next calls are answered ``status`` without reaching the gateway;
- ``redirect_to``: API calls are answered 307 to another origin;
- ``revoke_tokens()`` / ``reject_every_token``: the tokens issued so far (or every token) reach the gateway
  replaced by an invalid one, so it is the gateway that answers 401;
- ``token_lifetime``: the ``expires_in`` of the gateway's token answers is replaced (a token about to expire).
"""

from __future__ import annotations

import http.client
import json
import threading
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tests.openedx.real_gateway import RealGateway

SIMULATED_ERROR = {"error": {"code": "unavailable", "message": "Simulated failure."}}
INVALID_TOKEN = "Bearer simulated.invalid.token"


@dataclass
class Recorded:
    method: str
    path: str  # as sent, percent-encoding included
    headers: dict
    body: bytes
    status: int = 0

    @property
    def json(self):
        return json.loads(self.body) if self.body else None

    @property
    def endpoint(self):
        """``METHOD /path`` with the course id replaced by ``{course}``."""
        parts = self.path.split("/")
        if self.path.startswith("/api/v1/index/courses/") and len(parts) > 5:
            parts[5] = "{course}"
        return f"{self.method} {'/'.join(parts)}"


@dataclass
class GatewayProxy:
    gateway: RealGateway
    token_lifetime: int | None = None
    requests: list = field(default_factory=list)
    issued_tokens: list = field(default_factory=list)
    failures: list = field(default_factory=list)  # (endpoint or None for any API call, status)
    reject_every_token: bool = False
    redirect_to: str = ""

    def __post_init__(self):
        self._revoked: set[str] = set()
        self._lock = threading.Lock()
        self._stopped = False
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def do_GET(self):
                proxy._handle(self)

            def do_POST(self):
                proxy._handle(self)

            def do_PUT(self):
                proxy._handle(self)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
        self._thread.start()

    # ------------------------------------------------------------ simulations

    def stop(self):
        """Stop answering: the port then refuses connections."""
        if not self._stopped:
            self._stopped = True
            self.server.shutdown()
            self.server.server_close()

    def fail(self, status, times=1, endpoint=None):
        """Answer the next ``times`` calls (to ``endpoint``, e.g. ``"PUT /api/v1/index/courses/{course}/blocks"``,
        or to any API endpoint) with ``status``."""
        self.failures.extend([(endpoint, status)] * times)

    def revoke_tokens(self):
        """The tokens issued so far are refused from now on (as after a revocation)."""
        with self._lock:
            self._revoked.update(self.issued_tokens)

    # ------------------------------------------------------------ what it saw, and what the gateway holds

    def api_requests(self):
        return [request for request in self.requests if request.path != "/oauth2/token"]

    def endpoints(self):
        return [request.endpoint for request in self.requests]

    @property
    def retirements(self):
        return [request.json for request in self.requests if request.endpoint == "POST /api/v1/retirement"]

    @property
    def index(self):
        return self.gateway.index

    @property
    def course_titles(self):
        return self.gateway.course_titles

    # ------------------------------------------------------------ serving

    def _handle(self, handler):
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        recorded = Recorded(handler.command, handler.path, dict(handler.headers.items()), body)
        with self._lock:
            self.requests.append(recorded)
            simulated = self._simulated(recorded)
        if simulated is None:
            status, content_type, answer, headers = self._forward(recorded)
        else:
            status, answer = simulated
            content_type, headers = "application/json", {}
            if status == 307:
                headers["Location"] = self.redirect_to + recorded.path
        recorded.status = status
        handler.send_response(status)
        for name, value in headers.items():
            handler.send_header(name, value)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(answer)))
        handler.end_headers()
        handler.wfile.write(answer)

    def _simulated(self, request):
        """(status, body) of a simulated answer, or None to forward the request."""
        if request.path == "/oauth2/token":
            return None
        if self.redirect_to:
            return 307, json.dumps(SIMULATED_ERROR).encode()
        for number, (endpoint, status) in enumerate(self.failures):
            if endpoint in (None, request.endpoint):
                del self.failures[number]
                return status, json.dumps(SIMULATED_ERROR).encode()
        return None

    def _forward(self, request):
        headers = {
            name: value
            for name, value in request.headers.items()
            if name.lower() in ("authorization", "content-type", "accept", "user-agent")
        }
        token = headers.get("Authorization", "").removeprefix("Bearer ")
        if "Authorization" in headers and (self.reject_every_token or token in self._revoked):
            headers["Authorization"] = INVALID_TOKEN
        target = urllib.parse.urlsplit(self.gateway.url)
        connection = http.client.HTTPConnection(target.hostname, target.port, timeout=30)
        try:
            connection.request(request.method, request.path, body=request.body or None, headers=headers)
            response = connection.getresponse()
            status, answer = response.status, response.read()
            content_type = response.getheader("Content-Type", "application/json")
            extra = {name: response.getheader(name) for name in ("WWW-Authenticate",) if response.getheader(name)}
        finally:
            connection.close()
        if request.path == "/oauth2/token" and status == 200:
            decoded = json.loads(answer)
            with self._lock:
                self.issued_tokens.append(decoded["access_token"])
            if self.token_lifetime is not None:
                decoded["expires_in"] = self.token_lifetime
                answer = json.dumps(decoded).encode()
        return status, content_type, answer, extra
