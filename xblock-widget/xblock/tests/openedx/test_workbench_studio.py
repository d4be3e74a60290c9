"""The workbench as Studio (tests/workbench_studio.py, tests/workbench_platform): with a course, publishing a course
OLX scenario sends edx-platform's ``course_published`` signal, whose receiver edx-platform's plugins app connected
from the app's ``plugin_app``, and the course reaches the real gateway's index (tests/openedx/real_gateway.py).

Each test runs the workbench's Django in a process of its own, as the workbench runs (its settings read the
environment once, and put edx-platform's stand-ins on ``sys.path``, which this process must not get).
"""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.openedx.conftest import CLIENT_ID, CLIENT_SECRET, LMS_ROOT_URL

PROJECT = Path(__file__).resolve().parents[2]
COURSE_ID = "course-v1:IBAL+WB+2026"
TOKEN = "POST /oauth2/token"
HASHES = "GET /api/v1/index/courses/{course}/hashes"
BLOCKS = "PUT /api/v1/index/courses/{course}/blocks"
PRUNE = "POST /api/v1/index/courses/{course}/prune"

SETUP = """
import json, sys
import django
django.setup()
from django.core.management import call_command
call_command("migrate", run_syncdb=True, verbosity=0)
from django.test import Client
client = Client()
def out(value):
    print(json.dumps(value))
"""


def usage_id(block_id, block_type="html"):
    return f"block-v1:IBAL+WB+2026+type@{block_type}+block@{block_id}"


def jump_to(block_id):
    return f"/courses/{COURSE_ID}/jump_to/{usage_id(block_id)}"


@pytest.fixture
def workbench(tmp_path, gateway):
    """Runs code in the workbench's Django (course ``COURSE_ID``, the service client pointing at the gateway's
    recording proxy); returns what it printed with ``out()``, one JSON value per call."""

    def run(code, course_id=COURSE_ID, **extra):
        environ = {name: value for name, value in os.environ.items() if name != "DJANGO_SETTINGS_MODULE"}
        environ.update(
            {
                "DJANGO_SETTINGS_MODULE": "tests.workbench_settings",
                "IBAL_WORKBENCH_VAR_DIR": str(tmp_path),
                "IBAL_WORKBENCH_COURSE_ID": course_id,
                "LMS_ROOT_URL": LMS_ROOT_URL,
                "GATEWAY_URL": gateway.url,
                "SERVICE_CLIENT_ID": CLIENT_ID,
                "SERVICE_CLIENT_SECRET": CLIENT_SECRET,
                **extra,
            }
        )
        environ = {name: value for name, value in environ.items() if value is not None}
        result = subprocess.run(
            [sys.executable, "-c", SETUP + textwrap.dedent(code)],
            cwd=PROJECT,
            env=environ,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        assert CLIENT_SECRET not in result.stdout + result.stderr, "the service client's secret was printed"
        run.stderr = result.stderr
        return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]

    return run


def test_edx_platforms_plugins_app_connects_the_receivers_from_plugin_app(workbench):
    # Not wired by hand: edx-django-utils' connect_plugin_receivers read plugin_app["signals_config"]["cms.djangoapp"].
    modules, receivers = workbench(
        """
        import opaque_keys.edx.keys
        from xmodule.modulestore.django import COURSE_DELETED, COURSE_PUBLISHED, SignalHandler
        from ibal_xblock.openedx import signals
        from django.apps import apps
        out({name: sys.modules[name].__file__ for name in ("xmodule.modulestore.django", "opaque_keys.edx.keys",
                                                            "openedx.core.djangoapps.plugins.apps")})
        out({
            "published": [key for (key, _sender), *_ in COURSE_PUBLISHED.receivers],
            "deleted": [key for (key, _sender), *_ in COURSE_DELETED.receivers],
            "same_signal": COURSE_PUBLISHED is SignalHandler.course_published,
            "live": [f.__qualname__ for f in COURSE_PUBLISHED._live_receivers(None)[0]],
            "is_ours": COURSE_PUBLISHED._live_receivers(None)[0] == [signals.course_published],
            "apps": [a.name for a in apps.get_app_configs() if a.name.startswith(("ibal", "openedx"))],
        })
        """
    )
    stand_ins = PROJECT / "tests" / "workbench_platform"
    assert all(Path(path).is_relative_to(stand_ins) for path in modules.values()), modules
    assert receivers == {
        "published": ["ibal_xblock.openedx.signals.course_published"],
        "deleted": ["ibal_xblock.openedx.signals.course_deleted"],
        "same_signal": True,
        "live": ["course_published"],
        "is_ours": True,
        "apps": ["ibal_xblock.openedx", "openedx.core.djangoapps.plugins"],
    }


def test_publishing_a_scenario_indexes_the_course_at_the_gateway(workbench, gateway):
    paths = {
        "krebs": jump_to("krebs"),
        "answerkey": jump_to("answerkey"),
        "missing": jump_to("missing"),
        "other": "/courses/course-v1:Other+X+1/jump_to/block-v1:Other+X+1+type@html+block@krebs",
    }
    [answer, links] = workbench(
        f"""
        answer = client.post("/ibal-workbench/publish/course.2/")
        out([answer.status_code, answer.json()])
        answers = {{block: client.get(path) for block, path in {json.dumps(paths)}.items()}}
        out({{block: [answer.status_code, answer.get("Location")] for block, answer in answers.items()}})
        """
    )
    assert answer == [200, {"course_id": COURSE_ID, "scenario": "course.2"}]
    # The receiver ran the indexer inline (no Celery app in the workbench), through the service client.
    assert gateway.endpoints() == [TOKEN, HASHES, BLOCKS, PRUNE]
    assert all(request.status == 200 for request in gateway.requests)
    stored = gateway.index[COURSE_ID]
    assert list(stored) == [usage_id(block) for block in ("krebs", "glycolysis", "answerkey", "review")]
    assert gateway.course_titles == {COURSE_ID: "IBAL Biology 201"}
    krebs = stored[usage_id("krebs")]
    assert krebs["breadcrumb"] == [
        "IBAL Biology 201",
        "Week 1: Cell energy",
        "Cellular respiration",
        "Unit 1: The Krebs cycle",
    ]
    assert krebs["text"] == (
        "The Krebs cycle happens in the mitochondrial matrix: each turn oxidises one acetyl group to two molecules "
        "of carbon dioxide."
    )
    assert krebs["url"] == f"{LMS_ROOT_URL}{jump_to('krebs')}"
    assert [block["staff_only"] for block in stored.values()] == [False, False, True, False]
    # The chat block is not content: it is not indexed.
    assert not any("ibalxblock" in block for block in stored)
    # The LMS's jump_to leads to the course's page, for the blocks of the published course only.
    assert links == {
        "krebs": [302, "/scenario/course.2/"],
        "answerkey": [302, "/scenario/course.2/"],
        "missing": [404, None],
        "other": [404, None],
    }
    # The modulestore said it sent the signal, and the app what it pushed (no text, no secret).
    assert "Sent course_published signal to <function course_published" in workbench.stderr
    assert f"IBAL course index: {COURSE_ID}: 4 blocks, 4 sent (4 stored, 0 unchanged), 0 removed" in workbench.stderr
    assert "mitochondrial" not in workbench.stderr


def test_what_is_published_is_the_same_course_for_another_process(workbench, gateway):
    workbench('out(client.post("/ibal-workbench/publish/course.2/").status_code)')
    before = len(gateway.requests)
    # ``./manage.py cms ibal_index`` in another process reads the same published course: nothing to send.
    [courses] = workbench(
        """
        import io
        output = io.StringIO()
        call_command("ibal_index", "--all", stdout=output)
        out(output.getvalue().splitlines())
        """
    )
    assert courses == ["Indexing 1 courses", f"{COURSE_ID}: 4 blocks, 0 sent (0 stored, 0 unchanged), 0 removed"]
    assert [request.endpoint for request in gateway.requests[before:]] == [TOKEN, HASHES, PRUNE]


def test_deleting_the_course_sends_course_deleted_and_empties_the_index(workbench, gateway):
    workbench('out(client.post("/ibal-workbench/publish/course.2/").status_code)')
    assert len(gateway.index[COURSE_ID]) == 4
    [summaries] = workbench(
        f"""
        from opaque_keys.edx.keys import CourseKey
        from xmodule.modulestore import ModuleStoreEnum
        from xmodule.modulestore.django import modulestore
        store = modulestore()
        store.delete_course(CourseKey.from_string("{COURSE_ID}"), ModuleStoreEnum.UserID.test)
        out([str(summary.id) for summary in store.get_course_summaries()])
        """
    )
    assert summaries == []
    assert gateway.endpoints()[-2:] == [TOKEN, PRUNE]
    assert gateway.requests[-1].json == {"keep": []}
    assert gateway.index.get(COURSE_ID, {}) == {}


def test_publishing_the_same_course_with_another_chat_block_sends_nothing(workbench, gateway):
    # course.3 is course.2 with a chat block offering both tabs: the chat block is no content.
    [first, second] = workbench(
        """
        for scenario in ("course.2", "course.3"):
            out(client.post(f"/ibal-workbench/publish/{scenario}/").json()["scenario"])
        """
    )
    assert (first, second) == ("course.2", "course.3")
    assert gateway.endpoints() == [TOKEN, HASHES, BLOCKS, PRUNE, HASHES, PRUNE]
    assert f"IBAL course index: {COURSE_ID}: 4 blocks, 0 sent (0 stored, 0 unchanged), 0 removed" in workbench.stderr


def test_publish_answers_post_only_and_for_course_scenarios(workbench, gateway):
    [statuses] = workbench(
        """
        out({
            "get": client.get("/ibal-workbench/publish/course.2/").status_code,
            "unknown": client.post("/ibal-workbench/publish/course.99/").status_code,
            "not a course": client.post("/ibal-workbench/publish/ibalxblock.0/").status_code,
        })
        """
    )
    assert statuses == {"get": 405, "unknown": 404, "not a course": 404}
    assert gateway.requests == []


def test_without_a_course_the_workbench_is_no_studio(workbench, gateway):
    [found] = workbench(
        """
        import importlib.util
        out({
            "publish": client.post("/ibal-workbench/publish/course.2/").status_code,
            "stand-ins": [name for name in ("xmodule", "opaque_keys", "openedx") if importlib.util.find_spec(name)],
        })
        """,
        course_id=None,
    )
    assert found == {"publish": 404, "stand-ins": []}
    assert gateway.requests == []
