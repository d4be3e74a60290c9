"""Django settings for running the xblock-sdk workbench with the IBAL XBlock.

Extends xblock-sdk's ``workbench.settings``:

* ``XBLOCK_SETTINGS["IbalXBlock"]`` is built from the environment variables
  ``GATEWAY_URL`` (e.g. ``http://127.0.0.1:8080``), ``WS_URL`` and ``WIDGET_VERSION``
  (only the ones that are set; see ibal_xblock/config.py for the defaults);
* the database, log file and file storage live in ``IBAL_WORKBENCH_VAR_DIR``
  (default: ``<tmp>/ibal-xblock-workbench``) instead of ``./var`` of the current directory;
* the SDK's sample blocks are hidden from the scenario list unless
  ``IBAL_WORKBENCH_SHOW_SAMPLES=1``.

Use it from xblock-widget/xblock (see run-workbench.sh)::

    DJANGO_SETTINGS_MODULE=tests.workbench_settings python -m django migrate --run-syncdb
    DJANGO_SETTINGS_MODULE=tests.workbench_settings python -m django runserver 127.0.0.1:8000
"""

import os
import tempfile

from workbench.settings import *  # noqa: F403
from workbench.settings import LOGGING

VAR_DIR = os.environ.get("IBAL_WORKBENCH_VAR_DIR") or os.path.join(tempfile.gettempdir(), "ibal-xblock-workbench")
os.makedirs(VAR_DIR, exist_ok=True)

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

XBLOCK_SETTINGS = {
    "IbalXBlock": {
        key: os.environ[key] for key in ("GATEWAY_URL", "WS_URL", "WIDGET_VERSION") if os.environ.get(key)
    },
}
