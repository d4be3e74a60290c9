"""Server-side configuration of the IBAL XBlock.

The gateway location and the chat ticket's signing key are operator configuration,
read from ``XBLOCK_SETTINGS["IbalXBlock"]`` through the XBlock settings service. They
are never stored in course content, so a course author cannot point learners'
browsers at another server nor sign tickets with a key of their own.

This module has no XBlock or Django imports, so it can be tested and reused on its
own; the block looks up Django's ``LMS_ROOT_URL`` and passes it in.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit

from cryptography.hazmat.primitives.asymmetric import rsa

from .keys import UnusableKeyError, jwk_thumbprint, load_rsa_private_key

#: Key of this block's bucket in ``XBLOCK_SETTINGS``.
SETTINGS_BUCKET = "IbalXBlock"

#: Path of the chat WebSocket on the gateway (appended to GATEWAY_URL when WS_URL is not set).
WS_PATH = "/ws/chat/"

#: Name of the widget's ES module (``wasm-bindgen --target web`` output).
WIDGET_MODULE = "ibal_widget.js"

#: How learners sign in to the gateway: the Open edX OAuth2 popup, or the chat ticket alone.
SIGN_IN_MODES = ("popup", "lms")
DEFAULT_SIGN_IN = "popup"

#: Lifetime of a chat ticket in seconds: the default, and the range an operator may choose from.
DEFAULT_TICKET_TTL = 300
MIN_TICKET_TTL = 30
MAX_TICKET_TTL = 300

_VERSION_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$")
_FORBIDDEN_URL_CHARS = re.compile(r"[\s\x00-\x1f\x7f\\\"'<>`]")
# A key id travels in the JWS header and in the gateway's JWK set: printable ASCII, no spaces.
_KEY_ID_RE = re.compile(r"^[\x21-\x7e]{1,255}$")
_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}


def setting_path(key: str | None = None) -> str:
    """The Python expression naming a setting, e.g. ``XBLOCK_SETTINGS["IbalXBlock"]["GATEWAY_URL"]``."""
    path = f'XBLOCK_SETTINGS["{SETTINGS_BUCKET}"]'
    if key:
        path += f'["{key}"]'
    return path


class ConfigError(ValueError):
    """A missing or invalid value in ``XBLOCK_SETTINGS["IbalXBlock"]``.

    ``key`` is the offending key (or ``None`` for the bucket itself), ``problem``
    a short English description. ``str(error)`` names the full setting path.
    """

    def __init__(self, key: str | None, problem: str):
        self.key = key
        self.problem = problem
        self.setting = setting_path(key)
        super().__init__(f"{self.setting} {problem}")


@dataclass(frozen=True)
class GatewayConfig:
    """Validated gateway configuration, ready to be sent to the browser."""

    gateway_url: str
    ws_url: str
    widget_version: str

    @property
    def widget_url(self) -> str:
        """URL of the widget ES module served by the gateway."""
        return f"{self.gateway_url}/static/widget/{quote(self.widget_version, safe='.+-_')}/{WIDGET_MODULE}"

    @property
    def origin(self) -> str:
        """The gateway's origin, the audience of chat tickets."""
        return url_origin(self.gateway_url)


@dataclass(frozen=True)
class TicketConfig:
    """Validated chat ticket settings: how the block signs tickets and how learners sign in."""

    private_key: rsa.RSAPrivateKey = field(repr=False)
    key_id: str
    issuer: str
    ttl: int
    sign_in: str


def _check_url(key: str, value: Any, schemes: tuple[str, ...], *, strip_slash: bool) -> str:
    """Validate an absolute URL with one of ``schemes``; return it normalised.

    The scheme is lower-cased; with ``strip_slash`` trailing slashes of the path are removed.
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        raise ConfigError(key, "is missing")
    if not isinstance(value, str):
        raise ConfigError(key, f"must be a string, not {type(value).__name__}")
    url = value.strip()
    if _FORBIDDEN_URL_CHARS.search(url):
        raise ConfigError(key, f"contains characters that are not allowed in a URL: {url!r}")
    expected = " or ".join(f"{scheme}://" for scheme in schemes)
    try:
        parts = urlsplit(url)
        port = parts.port  # raises ValueError for a malformed port
    except ValueError as exc:
        raise ConfigError(key, f"is not a valid URL ({exc}): {url!r}") from None
    if parts.scheme.lower() not in schemes:
        raise ConfigError(key, f"must be an absolute URL starting with {expected}: {url!r}")
    if not parts.hostname:
        raise ConfigError(key, f"has no host name: {url!r}")
    if parts.username is not None or parts.password is not None:
        raise ConfigError(key, f"must not contain credentials: {url!r}")
    if parts.query or parts.fragment or url.endswith(("?", "#")):
        raise ConfigError(key, f"must not have a query string or fragment: {url!r}")
    if port == 0:
        raise ConfigError(key, f"has an invalid port: {url!r}")
    path = parts.path.rstrip("/") if strip_slash else parts.path
    if "//" in path:
        raise ConfigError(key, f"has an empty path segment: {url!r}")
    return f"{parts.scheme.lower()}://{parts.netloc}{path}"


def url_origin(url: str) -> str:
    """``scheme://host[:port]`` of a (validated) URL: lower-case, the scheme's default port dropped, no path."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"  # an IPv6 literal keeps its brackets
    port = parts.port
    netloc = host if port is None or port == _DEFAULT_PORTS.get(scheme) else f"{host}:{port}"
    return f"{scheme}://{netloc}"


def derive_ws_url(gateway_url: str) -> str:
    """The chat WebSocket URL for a (validated) gateway URL: http→ws, https→wss, path ``/ws/chat/``."""
    scheme, rest = gateway_url.split("://", 1)
    ws_scheme = "wss" if scheme == "https" else "ws"
    return f"{ws_scheme}://{rest.rstrip('/')}{WS_PATH}"


def parse_settings(bucket: Any, default_widget_version: str) -> GatewayConfig:
    """Validate a ``XBLOCK_SETTINGS["IbalXBlock"]`` bucket.

    Raises :class:`ConfigError` naming the first offending key.
    """
    if bucket is None:
        bucket = {}
    if not hasattr(bucket, "get"):
        raise ConfigError(None, f"must be a dict, not {type(bucket).__name__}")

    gateway_url = _check_url("GATEWAY_URL", bucket.get("GATEWAY_URL"), ("http", "https"), strip_slash=True)

    ws_value = bucket.get("WS_URL")
    if ws_value is None or (isinstance(ws_value, str) and not ws_value.strip()):
        ws_url = derive_ws_url(gateway_url)
    else:
        ws_url = _check_url("WS_URL", ws_value, ("ws", "wss"), strip_slash=False)
        if not urlsplit(ws_url).path:
            ws_url += "/"

    version = bucket.get("WIDGET_VERSION")
    if version is None or (isinstance(version, str) and not version.strip()):
        version = default_widget_version
    elif not isinstance(version, str):
        raise ConfigError("WIDGET_VERSION", f"must be a string, not {type(version).__name__}")
    version = version.strip()
    if not _VERSION_RE.match(version):
        raise ConfigError(
            "WIDGET_VERSION",
            f"must be a version such as 0.1.0 (letters, digits, '.', '_', '+', '-'): {version!r}",
        )

    return GatewayConfig(gateway_url=gateway_url, ws_url=ws_url, widget_version=version)


def _is_unset(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _ticket_key(bucket: Any) -> rsa.RSAPrivateKey:
    value = bucket.get("TICKET_PRIVATE_KEY")
    if _is_unset(value) or (isinstance(value, bytes) and not value.strip()):
        raise ConfigError("TICKET_PRIVATE_KEY", "is missing")
    if not isinstance(value, (str, bytes)):
        raise ConfigError("TICKET_PRIVATE_KEY", f"must be a string (a PEM private key), not {type(value).__name__}")
    try:
        return load_rsa_private_key(value)
    except UnusableKeyError as exc:
        raise ConfigError("TICKET_PRIVATE_KEY", str(exc)) from None


def _ticket_key_id(bucket: Any, key: rsa.RSAPrivateKey) -> str:
    value = bucket.get("TICKET_KEY_ID")
    if _is_unset(value):
        return jwk_thumbprint(key)
    if not isinstance(value, str):
        raise ConfigError("TICKET_KEY_ID", f"must be a string, not {type(value).__name__}")
    if not _KEY_ID_RE.match(value.strip()):
        raise ConfigError("TICKET_KEY_ID", "must be 1 to 255 printable ASCII characters without spaces")
    return value.strip()


def _ticket_issuer(bucket: Any, default_issuer: str | None) -> str:
    value = bucket.get("TICKET_ISSUER")
    if not _is_unset(value):
        return _check_url("TICKET_ISSUER", value, ("http", "https"), strip_slash=True)
    if _is_unset(default_issuer):
        raise ConfigError("TICKET_ISSUER", "is missing (and Django's LMS_ROOT_URL, its default, is not set)")
    try:
        return _check_url("TICKET_ISSUER", default_issuer, ("http", "https"), strip_slash=True)
    except ConfigError as exc:
        raise ConfigError("TICKET_ISSUER", f"is not set, and its default LMS_ROOT_URL {exc.problem}") from None


def _ticket_ttl(bucket: Any) -> int:
    value = bucket.get("TICKET_TTL")
    if _is_unset(value):
        return DEFAULT_TICKET_TTL
    # Whole seconds, as a number or as digits (settings built from environment variables are strings).
    if isinstance(value, str) and value.strip().isdigit():
        ttl = int(value.strip())
    elif isinstance(value, int) and not isinstance(value, bool):
        ttl = value
    else:
        raise ConfigError("TICKET_TTL", f"must be a whole number of seconds, not {value!r}")
    if not MIN_TICKET_TTL <= ttl <= MAX_TICKET_TTL:
        raise ConfigError("TICKET_TTL", f"must be between {MIN_TICKET_TTL} and {MAX_TICKET_TTL} seconds, not {ttl}")
    return ttl


def _sign_in(bucket: Any) -> str:
    value = bucket.get("SIGN_IN")
    if _is_unset(value):
        return DEFAULT_SIGN_IN
    if not isinstance(value, str) or value.strip() not in SIGN_IN_MODES:
        choices = " or ".join(f'"{mode}"' for mode in SIGN_IN_MODES)
        raise ConfigError("SIGN_IN", f"must be {choices}, not {value!r}")
    return value.strip()


def parse_ticket_settings(bucket: Any, default_issuer: str | None = None) -> TicketConfig:
    """Validate the chat ticket keys of a ``XBLOCK_SETTINGS["IbalXBlock"]`` bucket.

    ``default_issuer`` is the LMS root URL, used when ``TICKET_ISSUER`` is not set.
    Raises :class:`ConfigError` naming the first offending key; the message never
    contains the private key.
    """
    if bucket is None:
        bucket = {}
    if not hasattr(bucket, "get"):
        raise ConfigError(None, f"must be a dict, not {type(bucket).__name__}")
    key = _ticket_key(bucket)
    return TicketConfig(
        private_key=key,
        key_id=_ticket_key_id(bucket, key),
        issuer=_ticket_issuer(bucket, default_issuer),
        ttl=_ticket_ttl(bucket),
        sign_in=_sign_in(bucket),
    )
