"""The LMS retires a learner: the real gateway is asked, once, to delete their data, by original username and user
id, and does."""

import logging

import pytest
from django.contrib.auth import get_user_model
from django.test.utils import override_settings

from ibal_xblock.openedx.errors import GatewayError
from ibal_xblock.openedx.retirement import retire_learner
from tests.openedx import platform_fakes
from tests.openedx.conftest import CLIENT_SECRET, COURSE_ID, service_bucket

RETIREMENT = "POST /api/v1/retirement"


class LMSAccountRetirementView:
    """The sender of USER_RETIRE_LMS_MISC in edx-platform (the retirement API's "LMS misc" step)."""


@pytest.fixture
def learner(db_user):
    return db_user("ada")


@pytest.fixture
def db_user():
    created = []

    def create(username):
        user = get_user_model().objects.create(username=username, email=f"{username}@example.com")
        created.append(user)
        return user

    yield create
    for user in created:
        user.delete()


def retire(platform, user):
    """What the LMS's retirement view does (``send``: an exception of a receiver reaches the view)."""
    return platform.user_retire_lms_misc.send(sender=LMSAccountRetirementView, user=user)


#: What the gateway holds on a learner who opened the chat once, by table.
SIGNED_IN_ONCE = {"users": 1, "identities": 1, "memberships": 1}
NOTHING = dict.fromkeys(SIGNED_IN_ONCE, 0)


def test_the_retirement_signal_calls_the_gateway_once(platform, configured, learner):
    gateway = configured
    gateway.gateway.sign_in_learner("ada", learner.id, COURSE_ID)
    gateway.gateway.sign_in_learner("grace", learner.id + 1, COURSE_ID)
    assert gateway.gateway.rows_of("ada") == SIGNED_IN_ONCE
    platform.retirements.append(platform_fakes.UserRetirementStatus(learner, "ada", "ada@example.com"))
    retire(platform, learner)

    assert gateway.endpoints() == ["POST /oauth2/token", RETIREMENT]
    token_request, call = gateway.requests
    assert "scope=retirement" in token_request.body.decode()
    assert call.headers["Authorization"] == f"Bearer {gateway.issued_tokens[0]}"
    assert call.headers["Content-Type"] == "application/json"
    assert call.json == {"username": "ada", "lms_user_id": learner.id}
    assert gateway.retirements == [{"username": "ada", "lms_user_id": learner.id}]
    assert call.status == 200
    assert gateway.gateway.rows_of("ada") == NOTHING
    assert gateway.gateway.rows_of("grace") == SIGNED_IN_ONCE, "another learner's data stays"


def test_the_original_username_is_sent_when_the_user_was_renamed_already(platform, configured, learner):
    # An operator may run the LMS's renaming step first: the retirement record keeps the original name.
    platform.retirements.append(platform_fakes.UserRetirementStatus(learner, "ada", "ada@example.com"))
    learner.username = "retired__user_0a1b2c"
    learner.save()
    retire(platform, learner)
    assert configured.retirements == [{"username": "ada", "lms_user_id": learner.id}]


def test_without_a_retirement_record_the_username_is_sent(platform, configured, db_user):
    grace = db_user("grace")
    retire(platform, grace)
    assert configured.retirements == [{"username": "grace", "lms_user_id": grace.id}]


def test_retiring_twice_removes_nothing_the_second_time(platform, configured, learner):  # noqa: ARG001
    configured.gateway.sign_in_learner("ada", learner.id, COURSE_ID)
    first = retire_learner(learner)
    assert {table: count for table, count in first.items() if count} == SIGNED_IN_ONCE
    second = retire_learner(learner)
    assert set(second) == set(first)
    assert not any(second.values())
    assert len(configured.retirements) == 2


def test_a_gateway_failure_fails_the_retirement_step(platform, configured, learner, caplog):
    # The pipeline then marks the learner ERRORED, and the step can be run again.
    configured.stop()
    with caplog.at_level(logging.WARNING), pytest.raises(GatewayError, match="cannot be reached"):
        retire(platform, learner)
    (error,) = caplog.records
    assert error.levelno == logging.ERROR
    assert error.getMessage().startswith(f"IBAL learner retirement of LMS user {learner.id} failed: ")


def test_a_refusal_fails_the_retirement_step(platform, configured, learner):
    configured.fail(500, times=4)
    with pytest.raises(GatewayError, match="answered 500"):
        retire(platform, learner)
    assert configured.endpoints() == ["POST /oauth2/token", *[RETIREMENT] * 4]


def test_missing_settings_log_one_line_and_retire_nothing(platform, gateway, learner, caplog):
    bucket = service_bucket(gateway.url, SERVICE_CLIENT_SECRET=None)
    with override_settings(XBLOCK_SETTINGS={"IbalXBlock": bucket}), caplog.at_level(logging.DEBUG):
        retire(platform, learner)
    assert gateway.requests == []
    assert [record.getMessage() for record in caplog.records] == [
        "IBAL learner retirement is disabled, the gateway keeps its data on learners: "
        'XBLOCK_SETTINGS["IbalXBlock"]["SERVICE_CLIENT_SECRET"] is missing'
    ]


def test_logs_name_the_learner_by_id_only(platform, configured, learner, caplog):
    configured.gateway.sign_in_learner("ada", learner.id, COURSE_ID)
    with caplog.at_level(logging.DEBUG):
        retire(platform, learner)
        retire(platform, learner)
    assert [record.getMessage() for record in caplog.records] == [
        f"IBAL learner retirement of LMS user {learner.id}: the gateway removed "
        "identities: 1, memberships: 1, users: 1",
        f"IBAL learner retirement of LMS user {learner.id}: the gateway removed nothing",
    ]
    for secret in ("ada", CLIENT_SECRET, *configured.issued_tokens):
        assert secret not in caplog.text
