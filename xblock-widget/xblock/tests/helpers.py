"""Shared helpers: build IbalXBlock instances in real XBlock runtimes."""

import itertools
import json
import re

import webob
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from workbench.runtime import WorkbenchRuntime
from xblock.field_data import DictFieldData
from xblock.fields import ScopeIds
from xblock.runtime import Runtime

from ibal_xblock import IbalXBlock

# What edx-platform's user service gives a signed-in learner (xblock_django/user_service.py).
LEARNER = {
    "edx-platform.is_authenticated": True,
    "edx-platform.user_id": 42,
    "edx-platform.username": "jane",
    "edx-platform.anonymous_user_id": "5afe1e5e0f3ac5e1b5f6b1e0d9d1c2a3",
    "edx-platform.user_is_staff": False,
    "edx-platform.user_is_global_staff": False,
    "edx-platform.user_role": "student",
}

GATEWAY_URL = "https://chat.local.openedx.io"
TICKET_ISSUER = "https://lms.example.com"


def rsa_pem(bits=2048, pkcs1=False):
    """A fresh RSA private key as PEM text (PKCS#8, or PKCS#1 with ``pkcs1``), and the key."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL if pkcs1 else serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode("ascii")
    return pem, key


# One signing key for the whole test run (generating RSA keys is slow).
TICKET_PRIVATE_KEY, _TICKET_KEY = rsa_pem()
TICKET_PUBLIC_KEY = _TICKET_KEY.public_key()


def chat_bucket(**overrides):
    """A complete ``XBLOCK_SETTINGS["IbalXBlock"]`` bucket; a value of None removes that key."""
    bucket = {"GATEWAY_URL": GATEWAY_URL, "TICKET_PRIVATE_KEY": TICKET_PRIVATE_KEY, "TICKET_ISSUER": TICKET_ISSUER}
    bucket.update(overrides)
    return {key: value for key, value in bucket.items() if value is not None}


_scenario_numbers = itertools.count()

_INIT_ARGS_RE = re.compile(
    r'<script type="json/xblock-args" class="xblock_json_init_args">(?P<json>.*?)</script>', re.DOTALL
)


def workbench_block(xml="<ibalxblock/>", user_id="student_1"):
    """Parse ``xml`` in a fresh xblock-sdk WorkbenchRuntime and return the root block."""
    runtime = WorkbenchRuntime(user_id)
    runtime.id_generator.set_scenario(f"ibal-test-{next(_scenario_numbers)}")
    usage_id = runtime.parse_xml_string(xml)
    return runtime.get_block(usage_id)


def init_args_from_html(html):
    """The ``initialize_js`` JSON arguments embedded in the runtime-wrapped HTML (all of them)."""
    return [json.loads(match.group("json")) for match in _INIT_ARGS_RE.finditer(html)]


def call_handler(block, handler_name, payload, method="POST"):
    """Call a JSON handler through the runtime; returns (status_code, decoded body)."""
    request = webob.Request.blank("/", method=method)
    request.body = payload if isinstance(payload, bytes) else json.dumps(payload).encode("utf-8")
    request.content_type = "application/json"
    response = block.runtime.handle(block, handler_name, request)
    body = response.body.decode("utf-8")
    try:
        decoded = json.loads(body)
    except ValueError:
        decoded = body
    return response.status_code, decoded


class DictSettingsService:
    """A settings service like edx-platform's, over a plain dict standing in for XBLOCK_SETTINGS."""

    def __init__(self, xblock_settings):
        self.xblock_settings = xblock_settings

    def get_settings_bucket(self, block, default=None):
        key = getattr(block, "block_settings_key", type(block).__name__)
        return self.xblock_settings.get(key, {} if default is None else default)


class FakeUser:
    def __init__(self, opt_attrs):
        self.opt_attrs = opt_attrs


class FakeUserService:
    """The user service's shape in edx-platform: an XBlockUser with opt_attrs (None: no current user)."""

    def __init__(self, opt_attrs):
        self._user = None if opt_attrs is None else FakeUser(opt_attrs)

    def get_current_user(self):
        return self._user


class FakeUsageKey:
    """Stands in for an opaque-keys UsageKey: ``str()`` is the usage id, ``context_key`` the course."""

    def __init__(self, usage_id, context_key):
        self._usage_id = usage_id
        self.context_key = context_key

    def __str__(self):
        return self._usage_id

    def __hash__(self):
        return hash(self._usage_id)

    def __eq__(self, other):
        return str(self) == str(other)


class PlatformLikeRuntime(Runtime):
    """A minimal non-workbench runtime, shaped like the LMS one (opaque keys, user service opt_attrs)."""

    def __init__(self, services):
        super().__init__(id_reader=None, id_generator=None, services=services)
        #: What ``publish`` was given: ``(block, event_type, event_data)``, in order.
        self.published = []

    def handler_url(self, block, handler_name, suffix="", query="", thirdparty=False):  # noqa: ARG002
        return f"/handler/{block.scope_ids.usage_id}/{handler_name}/{suffix}"

    def resource_url(self, resource):
        return f"/static/{resource}"

    def local_resource_url(self, block, uri):
        return f"/resource/{block.scope_ids.block_type}/{uri}"

    def publish(self, block, event_type, event_data):
        self.published.append((block, event_type, event_data))


def platform_block(
    xblock_settings, usage_key, opt_attrs=None, course_id=None, fields=None, user_service=None, services=None
):
    """An IbalXBlock constructed directly in PlatformLikeRuntime (``services``: more services, e.g. partitions)."""
    services = {
        "settings": DictSettingsService(xblock_settings),
        "user": user_service if user_service is not None else FakeUserService({} if opt_attrs is None else opt_attrs),
        "field-data": DictFieldData(dict(fields or {})),
        **(services or {}),
    }
    runtime = PlatformLikeRuntime(services)
    if course_id is not None:
        runtime.course_id = course_id
    scope_ids = ScopeIds("user-1", "ibalxblock", "def-1", usage_key)
    return runtime.construct_xblock_from_class(IbalXBlock, scope_ids)
