"""``./manage.py cms ibal_index <course_id>… | --all [--full]``: backfill and catch-up of the course index."""

import io

import pytest
from django.core.management import CommandError, call_command
from django.test.utils import override_settings

from tests.openedx import platform_fakes
from tests.openedx.conftest import COURSE_ID, LMS_ROOT_URL, service_bucket

OTHER_ID = "course-v1:IBAL+CHEM1+2025"


def ibal_index(*args):
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("ibal_index", *args, stdout=out, stderr=err)
    except CommandError as error:
        return out.getvalue(), err.getvalue(), str(error)
    return out.getvalue(), err.getvalue(), None


@pytest.fixture
def two_courses(platform):
    key = platform_fakes.CourseKey.from_string(OTHER_ID)
    unit = platform_fakes.block(
        key, "vertical", "u", "Unit", [platform_fakes.block(key, "html", "h", "Atoms", data="<p>Atoms.</p>")]
    )
    platform.store.add(platform_fakes.course(OTHER_ID, "Chemistry", [unit]))
    return platform


def test_one_course(platform, configured):  # noqa: ARG001
    out, err, error = ibal_index(COURSE_ID)
    assert (out, err, error) == (f"{COURSE_ID}: 10 blocks, 10 sent (10 stored, 0 unchanged), 0 removed\n", "", None)
    assert len(configured.index[COURSE_ID]) == 10
    # Incremental, like a publish.
    out, _, _ = ibal_index(COURSE_ID)
    assert out == f"{COURSE_ID}: 10 blocks, 0 sent (0 stored, 0 unchanged), 0 removed\n"


def test_full_sends_every_block_without_asking_for_the_hashes(platform, configured):  # noqa: ARG001
    ibal_index(COURSE_ID)
    first = len(configured.requests)
    out, _, _ = ibal_index("--full", COURSE_ID)
    assert out == f"{COURSE_ID}: 10 blocks, 10 sent (0 stored, 10 unchanged), 0 removed\n"
    assert "GET /api/v1/index/courses/{course}/hashes" not in configured.endpoints()[first:]


def test_all_courses(two_courses, configured):  # noqa: ARG001
    out, err, error = ibal_index("--all")
    assert error is None and err == ""
    assert out.splitlines() == [
        "Indexing 2 courses",
        f"{COURSE_ID}: 10 blocks, 10 sent (10 stored, 0 unchanged), 0 removed",
        f"{OTHER_ID}: 1 blocks, 1 sent (1 stored, 0 unchanged), 0 removed",
    ]
    assert configured.course_titles == {COURSE_ID: "Biology 101", OTHER_ID: "Chemistry"}
    # One token for the whole run.
    assert configured.endpoints().count("POST /oauth2/token") == 1


def test_a_course_that_fails_does_not_stop_the_others(platform, configured):  # noqa: ARG001
    out, err, error = ibal_index("course-v1:IBAL+NOPE+1", "not a course", COURSE_ID)
    assert out == f"{COURSE_ID}: 10 blocks, 10 sent (10 stored, 0 unchanged), 0 removed\n"
    assert err.splitlines() == [
        "course-v1:IBAL+NOPE+1: there is no published course course-v1:IBAL+NOPE+1",
        "not a course: 'not a course' is not a course id",
    ]
    assert error == "2 of 3 courses could not be indexed"


def test_gateway_down(platform, configured):  # noqa: ARG001
    configured.stop()
    _, err, error = ibal_index(COURSE_ID)
    assert "cannot be reached" in err
    assert error == "1 of 1 courses could not be indexed"


@pytest.mark.parametrize("args", [(), ("--all", COURSE_ID)])
def test_courses_or_all(platform, configured, args):  # noqa: ARG001
    _, _, error = ibal_index(*args)
    assert error == "Name the courses to index, or use --all (not both)."
    assert configured.requests == []


def test_missing_settings(platform, gateway):  # noqa: ARG001
    with override_settings(XBLOCK_SETTINGS={}, LMS_ROOT_URL=LMS_ROOT_URL):
        _, _, error = ibal_index("--all")
    assert error == 'IBAL course indexing is disabled: XBLOCK_SETTINGS["IbalXBlock"]["GATEWAY_URL"] is missing'
    with override_settings(
        XBLOCK_SETTINGS={"IbalXBlock": service_bucket(gateway.url, SERVICE_CLIENT_SECRET="")}, LMS_ROOT_URL=LMS_ROOT_URL
    ):
        _, _, error = ibal_index(COURSE_ID)
    assert (
        error == 'IBAL course indexing is disabled: XBLOCK_SETTINGS["IbalXBlock"]["SERVICE_CLIENT_SECRET"] is missing'
    )
    assert gateway.requests == []
