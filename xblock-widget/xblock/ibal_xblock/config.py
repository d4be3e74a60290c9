"""Server-side configuration of the IBAL XBlock.

The gateway location is operator configuration, read from
``XBLOCK_SETTINGS["IbalXBlock"]`` through the XBlock settings service. It is never
stored in course content, so a course author cannot point learners' browsers at
another server.

This module is pure Python (no XBlock or Django imports) so it can be tested
and reused on its own.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

#: Key of this block's bucket in ``XBLOCK_SETTINGS``.
SETTINGS_BUCKET = "IbalXBlock"

#: Path of the chat WebSocket on the gateway (appended to GATEWAY_URL when WS_URL is not set).
WS_PATH = "/ws/chat/"

#: Name of the widget's ES module (``wasm-bindgen --target web`` output).
WIDGET_MODULE = "ibal_widget.js"

_VERSION_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$")
_FORBIDDEN_URL_CHARS = re.compile(r"[\s\x00-\x1f\x7f\\\"'<>`]")


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
