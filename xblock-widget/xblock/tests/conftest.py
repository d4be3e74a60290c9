"""Test set-up: a real Django + xblock-sdk workbench environment in a temporary directory."""

import os
import shutil
import tempfile

import pytest

_VAR_DIR = tempfile.mkdtemp(prefix="ibal-xblock-tests-")
os.environ["IBAL_WORKBENCH_VAR_DIR"] = _VAR_DIR
os.environ["DJANGO_SETTINGS_MODULE"] = "tests.workbench_settings"
# The tests set XBLOCK_SETTINGS themselves; make sure the shell's environment does not leak in.
for _name in (
    "GATEWAY_URL",
    "WS_URL",
    "WIDGET_VERSION",
    "TICKET_PRIVATE_KEY",
    "TICKET_KEY_ID",
    "TICKET_ISSUER",
    "TICKET_TTL",
    "SIGN_IN",
    "UNIT_CONTENT_MAX_CHARS",
    "DISCLOSURE_TEXT",
    "SERVICE_URL",
    "SERVICE_CLIENT_ID",
    "SERVICE_CLIENT_SECRET",
    "LMS_ROOT_URL",
    "IBAL_WORKBENCH_STAFF",
    "IBAL_WORKBENCH_COURSE_ID",
):
    os.environ.pop(_name, None)

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402

call_command("migrate", run_syncdb=True, verbosity=0)


@pytest.fixture(scope="session", autouse=True)
def _cleanup_var_dir():
    yield
    shutil.rmtree(_VAR_DIR, ignore_errors=True)
