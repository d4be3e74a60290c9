"""The plugin app as edx-platform finds it: entry points, ``plugin_app``, imports without edx-platform."""

import importlib.metadata
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from django.apps import apps
from edx_django_utils.plugins import get_plugin_apps

from ibal_xblock.openedx import signals
from ibal_xblock.openedx.apps import IbalOpenedxConfig
from tests.openedx import platform_fakes

PROJECT = Path(__file__).resolve().parents[2]
APP_CONFIG_PATH = "ibal_xblock.openedx.apps.IbalOpenedxConfig"


@pytest.mark.parametrize("group", ["lms.djangoapp", "cms.djangoapp"])
def test_entry_points_are_declared(group):
    found = [
        entry_point
        for entry_point in importlib.metadata.entry_points(group=group)
        if entry_point.name == "ibal_openedx"
    ]
    # A stale ibal_xblock.egg-info left in xblock-widget/xblock by an in-place build hides the installed metadata.
    assert found, f"no {group} entry point: reinstall with `pip install -e xblock-widget/xblock` (see README.md)"
    (entry_point,) = found
    assert entry_point.value == "ibal_xblock.openedx.apps:IbalOpenedxConfig"
    assert entry_point.dist.name == "ibal-xblock"
    assert entry_point.load() is IbalOpenedxConfig


@pytest.mark.parametrize("project", ["lms.djangoapp", "cms.djangoapp"])
def test_the_plugin_framework_adds_the_app_to_installed_apps(project):
    # What edx-platform's settings do: INSTALLED_APPS.extend(get_plugin_apps(ProjectType.LMS / CMS)).
    assert APP_CONFIG_PATH in get_plugin_apps(project)


def test_plugin_app_names_receivers_that_exist():
    config = IbalOpenedxConfig.plugin_app
    assert set(config) == {"signals_config"}
    expected = {
        "cms.djangoapp": {
            "course_published": "xmodule.modulestore.django.COURSE_PUBLISHED",
            "course_deleted": "xmodule.modulestore.django.COURSE_DELETED",
        },
        "lms.djangoapp": {
            "learner_retired": "openedx.core.djangoapps.user_api.accounts.signals.USER_RETIRE_LMS_MISC",
        },
    }
    for project, receivers in expected.items():
        signals_config = config["signals_config"][project]
        assert signals_config["relative_path"] == "signals"
        assert {r["receiver_func_name"]: r["signal_path"] for r in signals_config["receivers"]} == receivers
        for receiver in signals_config["receivers"]:
            assert callable(getattr(signals, receiver["receiver_func_name"]))
            assert "sender_path" not in receiver  # any sender: the modulestore class, the retirement view


def test_the_receivers_are_connected_by_the_plugin_framework(platform):
    # The fixture connects them with edx_django_utils.plugins.connect_plugin_receivers, as edx-platform's plugins app
    # does. (Nothing is configured here: the receivers only log that indexing and retirement are off.)
    course_key = platform_fakes.CourseKey.from_string("course-v1:IBAL+BIO101+2025")
    assert platform.course_published.send(sender=None, course_key=course_key) == [(signals.course_published, None)]
    assert platform.course_deleted.send(sender=None, course_key=course_key) == [(signals.course_deleted, None)]
    assert platform.user_retire_lms_misc.send(sender=None, user=object()) == [(signals.learner_retired, None)]


def test_django_loads_the_app_config():
    config = apps.get_app_config("ibal_openedx")
    assert isinstance(config, IbalOpenedxConfig)
    assert config.name == "ibal_xblock.openedx"


def run_python(code):
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=PROJECT,
        capture_output=True,
        text=True,
        check=False,
        env={"PATH": "/usr/bin:/bin", "DJANGO_SETTINGS_MODULE": "tests.workbench_settings"},
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


MODULES = """
import importlib, sys
for name in ("apps", "signals", "tasks", "indexer", "retirement", "course_blocks", "gateway_client", "edx_platform",
             "errors", "management.commands.ibal_index"):
    importlib.import_module("ibal_xblock.openedx." + name)
"""


def test_imports_cleanly_without_edx_platform():
    out = run_python(
        MODULES
        + """
import django
django.setup()
loaded = sorted({name.split(".")[0] for name in sys.modules} & {"xmodule", "opaque_keys", "openedx", "cms", "lms"})
print(loaded)
"""
    )
    assert out.strip() == "[]"


def test_imports_without_celery_and_then_works_inline():
    out = run_python(
        """
import sys
class NoCelery:
    def find_spec(self, name, path=None, target=None):
        if name == "celery" or name.startswith("celery."):
            raise ImportError("no celery here")
sys.meta_path.insert(0, NoCelery())
"""
        + MODULES
        + """
from ibal_xblock.openedx import tasks
print(tasks.index_course_task, tasks.forget_course_task)
"""
    )
    assert out.strip() == "None None"
