"""Django settings for running the xblock-sdk workbench with the IBAL XBlock.

Extends xblock-sdk's ``workbench.settings``:

* ``XBLOCK_SETTINGS["IbalXBlock"]`` is built from the environment variables
  ``GATEWAY_URL`` (e.g. ``http://127.0.0.1:8080``), ``WS_URL``, ``WIDGET_VERSION``,
  ``TICKET_PRIVATE_KEY`` (PEM; ``\\n`` escapes are turned into line breaks),
  ``TICKET_KEY_ID``, ``TICKET_ISSUER``, ``TICKET_TTL``, ``SIGN_IN``, ``UNIT_CONTENT_MAX_CHARS``,
  ``DISCLOSURE_TEXT`` and the service client's ``SERVICE_URL``, ``SERVICE_CLIENT_ID`` and
  ``SERVICE_CLIENT_SECRET`` (only the ones that are set; see ibal_xblock/config.py for the
  defaults). Unless ``LMS_ROOT_URL`` is set (below) the workbench has no
  ``LMS_ROOT_URL``, so set ``TICKET_ISSUER`` to what the gateway expects;
* the database, log file and file storage live in ``IBAL_WORKBENCH_VAR_DIR``
  (default: ``<tmp>/ibal-xblock-workbench``) instead of ``./var`` of the current directory;
* the SDK's sample blocks are hidden from the scenario list unless
  ``IBAL_WORKBENCH_SHOW_SAMPLES=1``;
* Open edX-shaped blocks (tests/workbench_blocks.py: ``course``, ``chapter``, ``sequential``,
  ``vertical``, ``html``, ``problem``, ``video``) are registered, with scenarios written as course OLX
  (``course.<n>``): titles, a staff-only component, a video with transcripts, a timed exam, as the
  chat block reads them in the LMS. Test scaffolding, like the next item;
* the Open edX plugin app (``ibal_xblock.openedx``) is installed, so its ``ibal_index``
  command exists; it needs edx-platform's modulestore to do anything, and its receivers are
  only connected by edx-platform's plugin framework (both stood in for with a course, below);
* ``IBAL_WORKBENCH_STAFF`` (student ids separated by commas or spaces, e.g. ``dave``)
  makes the workbench treat those students as course staff: its runtime then reports
  ``user_is_staff = True`` for them, as older Open edX runtimes do (the SDK's runtime has
  no notion of staff). Test scaffolding for the end-to-end tests (tests/e2e);
* ``IBAL_WORKBENCH_COURSE_ID`` (e.g. ``course-v1:IBAL+E2E+2026``) gives the workbench's runtime a
  ``course_id``, as the LMS's runtime has: the chat tickets then name that course, and the course's
  dashboard (``/instructor/<course>``) can be opened from the block. Without it the workbench has no
  course. Test scaffolding too;
* with ``IBAL_WORKBENCH_COURSE_ID`` the workbench is also Studio for that course, so that the plugin app's
  course indexing runs as in edx-platform (tests/workbench_studio.py; test scaffolding):
  tests/workbench_platform (stand-ins for the edx-platform modules the app reads, under their own names:
  ``opaque_keys``, ``xmodule.modulestore.django`` with ``SignalHandler`` and ``COURSE_PUBLISHED``,
  ``openedx.core.djangoapps.plugins``) is appended to ``sys.path``; edx-platform's plugins app is installed,
  whose ``ready()`` connects the plugin apps' receivers from their ``plugin_app["signals_config"]`` with
  edx-django-utils' ``connect_plugin_receivers`` (Studio's: ``ROOT_URLCONF`` is not ``lms.urls``);
  ``MODULESTORE`` names ``tests.workbench_studio.WorkbenchModuleStore``, whose published course is a
  course OLX scenario; ``POST /ibal-workbench/publish/<scenario>/`` publishes one (the modulestore then
  sends ``course_published``, and the app indexes the course inline, the workbench having no Celery app)
  and ``/courses/<course>/jump_to/<block>`` leads to its page (tests/workbench_urls.py); the app's and the
  modulestore's log lines go to the console;
* ``LMS_ROOT_URL``, when set, is Django's: the default ticket issuer, and where the course index links
  blocks (``<LMS_ROOT_URL>/courses/<course>/jump_to/<block>``; the workbench's own URL answers that).

Use it from xblock-widget/xblock (see run-workbench.sh)::

    DJANGO_SETTINGS_MODULE=tests.workbench_settings python -m django migrate --run-syncdb
    DJANGO_SETTINGS_MODULE=tests.workbench_settings python -m django runserver 127.0.0.1:8000
"""

import os
import re
import sys
import tempfile
from pathlib import Path

from workbench.settings import *  # noqa: F403
from workbench.settings import LOGGING, WORKBENCH

from tests import workbench_blocks

VAR_DIR = os.environ.get("IBAL_WORKBENCH_VAR_DIR") or os.path.join(tempfile.gettempdir(), "ibal-xblock-workbench")
os.makedirs(VAR_DIR, exist_ok=True)

# The Open edX plugin app (course indexing, learner retirement): installed so that its management command exists.
# It imports without edx-platform; its receivers are only connected by edx-platform's plugin framework.
INSTALLED_APPS = [*INSTALLED_APPS, "ibal_xblock.openedx"]  # noqa: F405

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.path.join(VAR_DIR, "workbench.db"),
    }
}

LOGGING["handlers"]["logfile"]["filename"] = os.path.join(VAR_DIR, "workbench.log")

DJFS = {
    "type": "osfs",
    "directory_root": os.path.join(VAR_DIR, "djpyfs"),
    "url_root": "/static/djpyfs",
}

if os.environ.get("IBAL_WORKBENCH_SHOW_SAMPLES") != "1":
    EXCLUDED_XBLOCKS = {
        "allscopes_demo",
        "attempts_scoreboard_demo",
        "debugchild",
        "equality_demo",
        "filethumbs",
        "helloworld_demo",
        "html_demo",
        "problem_demo",
        "sequence_demo",
        "sidebar_demo",
        "slider_demo",
        "textinput_demo",
        "thumbs",
        "vertical_demo",
        "view_counter_demo",
    }

IBAL_SETTINGS_FROM_ENV = (
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
)


def _from_env(key):
    value = os.environ[key]
    # A PEM key passed on one line (e.g. from a .env file) has its line breaks escaped.
    if key == "TICKET_PRIVATE_KEY" and "\n" not in value:
        value = value.replace("\\n", "\n")
    return value


XBLOCK_SETTINGS = {
    "IbalXBlock": {key: _from_env(key) for key in IBAL_SETTINGS_FROM_ENV if os.environ.get(key)},
}


#: The workbench students who are course staff (``?student=<id>``), from ``IBAL_WORKBENCH_STAFF``.
IBAL_WORKBENCH_STAFF = frozenset(filter(None, re.split(r"[\s,]+", os.environ.get("IBAL_WORKBENCH_STAFF", ""))))


#: The course the workbench's blocks are in, from ``IBAL_WORKBENCH_COURSE_ID`` (none when unset).
IBAL_WORKBENCH_COURSE_ID = os.environ.get("IBAL_WORKBENCH_COURSE_ID", "").strip()

if os.environ.get("LMS_ROOT_URL"):
    LMS_ROOT_URL = os.environ["LMS_ROOT_URL"]

if IBAL_WORKBENCH_COURSE_ID:
    # Studio for that course (see the docstring). Appended: an edx-platform on the path would come first.
    sys.path.append(str(Path(__file__).resolve().parent / "workbench_platform"))
    INSTALLED_APPS = [*INSTALLED_APPS, "openedx.core.djangoapps.plugins"]
    MODULESTORE = {
        "default": {
            "ENGINE": "tests.workbench_studio.WorkbenchModuleStore",
            "OPTIONS": {"published_file": os.path.join(VAR_DIR, "published-courses.json")},
        }
    }
    ROOT_URLCONF = "tests.workbench_urls"
    LOGGING["handlers"]["console"] = {"level": "INFO", "class": "logging.StreamHandler"}
    for _logger in ("ibal_xblock.openedx", "xmodule.modulestore.django"):
        LOGGING["loggers"][_logger] = {"level": "INFO", "handlers": ["console"], "propagate": False}


class WorkbenchCourse:
    """Gives xblock-sdk's WorkbenchRuntime the ``course_id`` of IBAL_WORKBENCH_COURSE_ID (a workbench
    service, loaded as WorkbenchStaffFlag is)."""

    def __init__(self):
        from workbench.runtime import WorkbenchRuntime

        if not isinstance(WorkbenchRuntime.__dict__.get("course_id"), property):
            WorkbenchRuntime.course_id = property(lambda _runtime: IBAL_WORKBENCH_COURSE_ID)


class WorkbenchStaffFlag:
    """Gives xblock-sdk's WorkbenchRuntime a ``user_is_staff`` for the IBAL_WORKBENCH_STAFF students.

    Loaded as a workbench service, i.e. by every WorkbenchRuntime as it is created: by then
    Django's apps are ready, so the runtime module can be imported (this settings module is
    read before that and cannot import it).
    """

    def __init__(self):
        from workbench.runtime import WorkbenchRuntime

        if not isinstance(WorkbenchRuntime.__dict__.get("user_is_staff"), property):
            WorkbenchRuntime.user_is_staff = property(lambda runtime: runtime.user_id in IBAL_WORKBENCH_STAFF)


# Before any block type is looked up: XBlock caches what it finds, and what it does not.
workbench_blocks.register()

if IBAL_WORKBENCH_STAFF:
    WORKBENCH = {
        **WORKBENCH,
        "services": {**WORKBENCH["services"], "ibal-workbench-staff": "tests.workbench_settings.WorkbenchStaffFlag"},
    }

if IBAL_WORKBENCH_COURSE_ID:
    WORKBENCH = {
        **WORKBENCH,
        "services": {**WORKBENCH["services"], "ibal-workbench-course": "tests.workbench_settings.WorkbenchCourse"},
    }
