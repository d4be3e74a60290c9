"""Server-to-server calls to the gateway, with a service token per scope.

The LMS and Studio authenticate as the service client (``SERVICE_CLIENT_ID`` /
``SERVICE_CLIENT_SECRET``) with the OAuth2 client credentials grant at ``/oauth2/token``,
one token per scope (``index``, ``retirement``), kept in this process until 30 seconds
before it expires. A call answered 401 gets a new token and is sent once more; a call that
cannot reach the gateway or gets a 5xx is retried with backoff a few times (every call of
the contract is idempotent).

Tokens and the client secret never appear in a log line or an error message; neither
does anything a request or response carries. Redirects are not followed, so a token is
never sent anywhere but the configured gateway.
"""

from __future__ import annotations

import http.client
import json
import logging
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from typing import Any

from .. import __version__
from ..config import ServiceConfig
from .errors import GatewayError

log = logging.getLogger(__name__)

SCOPE_INDEX = "index"
SCOPE_RETIREMENT = "retirement"

TOKEN_PATH = "/oauth2/token"

#: A cached token is renewed this many seconds before it expires.
RENEW_BEFORE_SECONDS = 30

#: Seconds to wait for the gateway to accept a connection and to answer.
DEFAULT_TIMEOUT_SECONDS = 30

#: Pauses before each retry of a call that could not reach the gateway or got a 5xx (so 4 attempts in all).
DEFAULT_BACKOFF_SECONDS = (0.5, 1.0, 2.0)

# The largest answer read (a course's hashes: about 150 bytes per block).
_MAX_RESPONSE_BYTES = 64 * 1024 * 1024
_USER_AGENT = f"ibal-xblock/{__version__}"

# Tokens by (gateway URL, client id, scope): (token, monotonic time after which it is renewed).
_tokens: dict[tuple[str, str, str], tuple[str, float]] = {}
_tokens_lock = threading.Lock()


def forget_tokens() -> None:
    """Drop every cached service token (the next call fetches new ones)."""
    with _tokens_lock:
        _tokens.clear()


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is an error: a bearer token must only ever go to the configured gateway."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # noqa: ARG002 - urllib's signature
        return None


def _opener() -> urllib.request.OpenerDirector:
    return urllib.request.build_opener(_NoRedirects())


def _error_fields(body: bytes) -> tuple[str | None, str]:
    """The gateway's error code and message, shortened to one line for a log; (None, "") for another answer.

    The API answers ``{"error": {"code": …, "message": …}}``; the token endpoint answers RFC 6749's
    ``{"error": code, "error_description": text}``.
    """
    try:
        decoded = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None, ""
    if not isinstance(decoded, dict):
        return None, ""
    error = decoded.get("error")
    if isinstance(error, dict):
        code, message = error.get("code"), error.get("message")
    else:
        code, message = error, decoded.get("error_description")
    code = " ".join(code.split())[:64] if isinstance(code, str) else None
    message = " ".join(message.split())[:200] if isinstance(message, str) else ""
    return code, message


class GatewayClient:
    """Calls the gateway's service API as the configured service client."""

    def __init__(
        self,
        config: ServiceConfig,
        *,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        backoff: Sequence[float] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.config = config
        self.timeout = timeout
        self.backoff = tuple(DEFAULT_BACKOFF_SECONDS if backoff is None else backoff)
        self._sleep = sleep
        self._opener = _opener()

    # ------------------------------------------------------------------ the API

    def call(self, method: str, path: str, scope: str, body: Any = None) -> dict[str, Any]:
        """Send ``body`` as JSON (None: no body) with a token of ``scope``; return the JSON object answered.

        Raises :class:`GatewayError` when the gateway cannot be reached or answers with an error.
        """
        what = f"{method} {path}"
        data = None if body is None else json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        token = self._token(scope)
        status, answer = self._send(method, path, data, {"Authorization": f"Bearer {token}"}, json_body=True)
        if status == 401:
            # The token expired early or was revoked (e.g. the gateway's keys were rotated): one new token, one retry.
            self._drop_token(scope, token)
            token = self._token(scope)
            status, answer = self._send(method, path, data, {"Authorization": f"Bearer {token}"}, json_body=True)
        if not 200 <= status < 300:
            raise self._error(what, status, answer)
        return self._json_object(what, answer)

    # --------------------------------------------------------------- the tokens

    def _cache_key(self, scope: str) -> tuple[str, str, str]:
        return (self.config.service_url, self.config.client_id, scope)

    def _token(self, scope: str) -> str:
        key = self._cache_key(scope)
        with _tokens_lock:
            cached = _tokens.get(key)
        if cached is not None and time.monotonic() < cached[1]:
            return cached[0]
        token, expires_in = self._fetch_token(scope)
        with _tokens_lock:
            _tokens[key] = (token, time.monotonic() + max(0.0, expires_in - RENEW_BEFORE_SECONDS))
        return token

    def _drop_token(self, scope: str, token: str) -> None:
        key = self._cache_key(scope)
        with _tokens_lock:
            if _tokens.get(key, ("", 0.0))[0] == token:
                del _tokens[key]

    def _fetch_token(self, scope: str) -> tuple[str, float]:
        form = urllib.parse.urlencode(
            {
                "grant_type": "client_credentials",
                "client_id": self.config.client_id,
                "client_secret": self.config.client_secret,
                "scope": scope,
            }
        ).encode("ascii")
        what = f"a service token (scope {scope})"
        status, answer = self._send("POST", TOKEN_PATH, form, {}, json_body=False)
        if not 200 <= status < 300:
            raise self._error(what, status, answer)
        decoded = self._json_object(what, answer)
        token = decoded.get("access_token")
        if not isinstance(token, str) or not token:
            raise GatewayError(f"The gateway's answer to {what} has no access_token", status=status)
        expires_in = decoded.get("expires_in")
        if isinstance(expires_in, bool) or not isinstance(expires_in, int | float) or expires_in <= 0:
            expires_in = 0.0  # unknown lifetime: used for this call only
        return token, float(expires_in)

    # ---------------------------------------------------------------- transport

    def _send(
        self, method: str, path: str, data: bytes | None, headers: dict[str, str], *, json_body: bool
    ) -> tuple[int, bytes]:
        """(status, body) of the gateway's answer, after retrying what may pass (connection errors, 5xx)."""
        url = self.config.service_url + path
        headers = {"Accept": "application/json", "User-Agent": _USER_AGENT, **headers}
        if data is not None:
            headers["Content-Type"] = "application/json" if json_body else "application/x-www-form-urlencoded"
        attempts = len(self.backoff) + 1
        for attempt in range(attempts):
            last = attempt == attempts - 1
            request = urllib.request.Request(url, data=data, method=method)
            for name, value in headers.items():
                # Unredirected: urllib would otherwise copy the header onto a redirect (which is refused anyway).
                request.add_unredirected_header(name, value)
            try:
                with self._opener.open(request, timeout=self.timeout) as response:
                    return response.status, response.read(_MAX_RESPONSE_BYTES)
            except urllib.error.HTTPError as error:
                try:
                    status, body = error.code, error.read(_MAX_RESPONSE_BYTES)
                finally:
                    error.close()
                if status < 500 or last:
                    return status, body
                log.info("IBAL gateway: %s %s answered %d, retrying", method, path, status)
            except (urllib.error.URLError, http.client.HTTPException, OSError) as error:
                reason = getattr(error, "reason", None) or error
                if last:
                    raise GatewayError(
                        f"{method} {path}: the gateway at {self.config.service_url} cannot be reached "
                        f"({type(reason).__name__}: {reason})"
                    ) from None
                log.info("IBAL gateway: %s %s failed (%s), retrying", method, path, type(reason).__name__)
            self._sleep(self.backoff[attempt])
        raise AssertionError("unreachable")  # pragma: no cover - the last attempt returns or raises

    @staticmethod
    def _error(what: str, status: int, body: bytes) -> GatewayError:
        code, message = _error_fields(body)
        detail = f"{code}: {message}" if code and message else (code or message or "no details")
        return GatewayError(f"{what}: the gateway answered {status} ({detail})", status=status, code=code)

    @staticmethod
    def _json_object(what: str, body: bytes) -> dict[str, Any]:
        try:
            decoded = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise GatewayError(f"{what}: the gateway's answer is not JSON") from None
        if not isinstance(decoded, dict):
            raise GatewayError(f"{what}: the gateway's answer is not a JSON object")
        return decoded
