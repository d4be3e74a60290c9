"""Jinja filters used by the plugin's templates and patches.

The gateway's environment is written once, as ``NAME=value`` lines, in
``templates/llm/apps/partials/gateway.env`` (its init job's adds one entry to it, in
``gateway-job.env``). The compose services, the Kubernetes deployment, the
Kubernetes job and the Kubernetes Secret that holds the secret entries all render
these partials and turn them into YAML with these filters, so the environment is
never written twice and every value is quoted the same, safe way.

The filters are registered with an ``llm_`` prefix so that they cannot collide
with Tutor's own filters or with another plugin's.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import shlex
import typing as t
from urllib.parse import quote

from tutor import exceptions

from . import ticket_keys

_ENV_NAME = re.compile(r"[A-Z_][A-Z0-9_]*\Z")


def env_items(text: str) -> list[tuple[str, str]]:
    """Parse a rendered environment partial into ``(name, value)`` pairs.

    - blank lines and lines starting with ``#`` are ignored;
    - every other line must be ``NAME=value`` (the value is everything after the
      first ``=``, surrounding whitespace removed);
    - a name may appear only once;
    - entries with an empty value are dropped, so that optional settings left
      empty (e.g. ``LLM_FLOWISE_URL`` with the ``room`` backend) are not passed
      to the gateway at all and it keeps its own defaults.

    Errors name the line number but never print the value: it may be a secret.
    """
    items: list[tuple[str, str]] = []
    seen: set[str] = set()
    for number, raw_line in enumerate(text.splitlines(), start=1):
        line = raw_line.strip()
        if not line or line.startswith("#"):
            continue
        name, separator, value = line.partition("=")
        name = name.strip()
        if not separator or not _ENV_NAME.match(name):
            raise exceptions.TutorError(
                f"llm plugin: line {number} of the gateway environment is not "
                "NAME=value (does a setting contain a line break?)"
            )
        if name in seen:
            raise exceptions.TutorError(
                f"llm plugin: {name} is set twice in the gateway environment "
                f"(line {number}; does a setting contain a line break?)"
            )
        seen.add(name)
        value = value.strip()
        if value:
            items.append((name, value))
    return items


#: Entries of the gateway environment that are, or may contain, credentials. In Kubernetes they
#: live in the Secret "llm-secrets" and the Deployment and Job only name them (``secretKeyRef``);
#: docker compose gets them inline, like Tutor's own services. ``DATABASE_URL`` holds the MySQL
#: password, ``REDIS_URL`` the Redis password when there is one, and ``UPSTREAM_WS_URL`` may carry
#: credentials in its user info or query.
SECRET_ENV_NAMES = frozenset(
    {
        "SECRET_KEY",
        "DATABASE_URL",
        "REDIS_URL",
        "OPENEDX_CLIENT_SECRET",
        "FLOWISE_API_KEY",
        "OPENAI_API_KEY",
        "UPSTREAM_WS_URL",
        # Only in the init job's environment (gateway-job.env), for `ibal-gateway clients ensure`.
        "IBAL_SERVICE_CLIENT_SECRET",
    }
)


def env_is_secret(name: str) -> bool:
    """Whether a gateway environment entry belongs in the Kubernetes Secret."""
    return name in SECRET_ENV_NAMES


def secret_items(text: str) -> list[tuple[str, str]]:
    """The entries of a rendered environment partial that belong in the Secret, in order."""
    return [(name, value) for name, value in env_items(text) if env_is_secret(name)]


def secret_checksum(text: str) -> str:
    """A SHA-256 digest of the secret entries, for the Deployment's pod template.

    A Deployment does not notice that a Secret it reads has changed; a pod template annotation
    that changes with the Secret makes ``tutor k8s start`` roll the pods out, as it does when any
    other setting changes. The digest reveals nothing usable: its input always includes
    ``SECRET_KEY``, 64 random characters.
    """
    digest = hashlib.sha256()
    for name, value in secret_items(text):
        digest.update(f"{name}={value}\n".encode())
    return digest.hexdigest()


def b64(value: t.Any) -> str:
    """Base64 of the UTF-8 text, for the ``data`` of a Kubernetes Secret."""
    return base64.b64encode(str(value).encode("utf-8")).decode("ascii")


def yaml_str(value: t.Any) -> str:
    """Quote a value as a YAML double-quoted scalar.

    A JSON string is a valid YAML double-quoted scalar; with ``ensure_ascii`` it
    is also a single line of printable ASCII, so JSON documents (the LMS JWK
    set), quotes, ``#``, ``:`` and non-ASCII text all survive unchanged.
    """
    return json.dumps(str(value))


def compose_str(value: t.Any) -> str:
    """Quote a value for a docker compose file.

    Same as :func:`yaml_str`, and ``$`` is doubled because compose interpolates
    ``$VAR`` in every value of the file.
    """
    return json.dumps(str(value).replace("$", "$$"))


def url_quote(value: t.Any) -> str:
    """Percent-encode a URL component (user name, password): nothing is safe."""
    return quote(str(value), safe="")


def sh_quote(value: t.Any) -> str:
    """A value as one word of a POSIX shell command (init scripts run with ``sh -e -c``)."""
    return shlex.quote(str(value))


def py_str(value: t.Any) -> str:
    """A Python string literal of the value, for the Open edX settings modules.

    ``repr`` of a ``str`` always evaluates back to the same string, line breaks (a PEM
    key), quotes and non-ASCII text included.
    """
    return repr(str(value))


#: How learners sign in to the gateway (the IbalXBlock's SIGN_IN).
SIGN_IN_MODES = ("popup", "lms")


def sign_in(value: t.Any) -> str:
    """LLM_SIGN_IN, checked when the configuration is saved rather than in every course unit."""
    if value not in SIGN_IN_MODES:
        raise exceptions.TutorError(
            'llm plugin: LLM_SIGN_IN must be "popup" (Open edX login popup) '
            'or "lms" (signed in by the LMS\'s chat ticket)'
        )
    return str(value)


FILTERS: list[tuple[str, t.Callable[..., t.Any]]] = [
    ("llm_env_items", env_items),
    ("llm_yaml_str", yaml_str),
    ("llm_compose_str", compose_str),
    ("llm_url_quote", url_quote),
    ("llm_py_str", py_str),
    ("llm_sh", sh_quote),
    ("llm_sign_in", sign_in),
    ("llm_ticket_jwks", ticket_keys.ticket_jwks),
    ("llm_env_is_secret", env_is_secret),
    ("llm_secret_items", secret_items),
    ("llm_secret_checksum", secret_checksum),
    ("llm_b64", b64),
]
