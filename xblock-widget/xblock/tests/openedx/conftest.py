"""Fixtures: a fake edx-platform, the real gateway (behind a recording proxy), the service client settings, Celery."""

import secrets
import sys
import types

import pytest
from django.test.utils import override_settings

from ibal_xblock.openedx import gateway_client
from tests.openedx import platform_fakes
from tests.openedx.gateway_proxy import GatewayProxy
from tests.openedx.real_gateway import RealGateway

CLIENT_ID = "ibal-openedx"
CLIENT_SECRET = f"svc-secret-{secrets.token_hex(12)}"
LMS_ROOT_URL = "https://lms.example.com"
COURSE_ID = "course-v1:IBAL+BIO101+2025"


@pytest.fixture(autouse=True)
def _fresh_tokens_and_quick_retries(monkeypatch):
    # Tokens are cached per process: every test starts without any. Retries keep their number, not their pauses.
    gateway_client.forget_tokens()
    monkeypatch.setattr(gateway_client, "DEFAULT_BACKOFF_SECONDS", (0, 0, 0))
    yield
    gateway_client.forget_tokens()


@pytest.fixture
def platform(monkeypatch):
    """edx-platform's modules, faked, with the Biology 101 course published in Studio, and this package's receivers
    connected to their signals the way edx-platform does it: by edx-django-utils' plugin framework, from the
    ``lms.djangoapp`` / ``cms.djangoapp`` entry points and the AppConfig's ``plugin_app``."""
    from edx_django_utils.plugins import connect_plugin_receivers

    fake = platform_fakes.install(monkeypatch)
    fake.store.add(platform_fakes.biology(COURSE_ID))
    connect_plugin_receivers("cms.djangoapp")
    connect_plugin_receivers("lms.djangoapp")
    return fake


@pytest.fixture(scope="session")
def real_gateway():
    """The ``ibal-gateway`` binary serving for the whole session, its service client ensured."""
    gateway = RealGateway(CLIENT_ID, CLIENT_SECRET, LMS_ROOT_URL)
    yield gateway
    gateway.stop()


@pytest.fixture
def gateway(real_gateway):
    """The real gateway, emptied, behind a proxy that records every request (and can simulate failures)."""
    real_gateway.reset()
    proxy = GatewayProxy(real_gateway)
    yield proxy
    proxy.stop()


def service_bucket(gateway_url, **overrides):
    """``XBLOCK_SETTINGS["IbalXBlock"]`` with the service client; a value of None removes that key."""
    bucket = {"GATEWAY_URL": gateway_url, "SERVICE_CLIENT_ID": CLIENT_ID, "SERVICE_CLIENT_SECRET": CLIENT_SECRET}
    bucket.update(overrides)
    return {key: value for key, value in bucket.items() if value is not None}


@pytest.fixture
def configured(gateway):
    """Django settings as the Tutor plugin writes them for Studio and the LMS, pointing at the gateway."""
    with override_settings(XBLOCK_SETTINGS={"IbalXBlock": service_bucket(gateway.url)}, LMS_ROOT_URL=LMS_ROOT_URL):
        yield gateway


@pytest.fixture
def platform_celery(monkeypatch):
    """edx-platform's Celery app (``cms.celery.APP``), running tasks eagerly; yields the tasks that ran."""
    from celery import Celery, _state
    from celery.signals import task_prerun

    previous = _state.get_current_app()
    app = Celery("proj", set_as_current=True)
    app.conf.task_always_eager = True
    celery_module = types.ModuleType("cms.celery")
    celery_module.APP = app
    monkeypatch.setitem(sys.modules, "cms", types.ModuleType("cms"))
    monkeypatch.setitem(sys.modules, "cms.celery", celery_module)
    ran = []

    def record(task=None, args=None, **kwargs):  # noqa: ARG001 - Celery's signal signature
        ran.append((task.name, tuple(args)))

    task_prerun.connect(record, weak=False)
    yield ran
    task_prerun.disconnect(record)
    _state._set_current_app(previous)
