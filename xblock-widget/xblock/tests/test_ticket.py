"""The chat_ticket handler: who may get a ticket, what it says, and how it is signed."""

import logging
import sys
import time
import types

import jwt
import pytest
from django.contrib.auth import get_user_model
from django.test import override_settings

from ibal_xblock.keys import jwk_thumbprint

from .helpers import (
    TICKET_ISSUER,
    TICKET_PRIVATE_KEY,
    TICKET_PUBLIC_KEY,
    FakeUsageKey,
    FakeUser,
    call_handler,
    chat_bucket,
    platform_block,
    rsa_pem,
    workbench_block,
)

USAGE = "block-v1:OpenedX+DemoX+2025+type@ibalxblock+block@0123456789abcdef"
COURSE = "course-v1:OpenedX+DemoX+2025"
AUDIENCE = "https://chat.local.openedx.io"
NEUTRAL = "The chat is not available right now."
KEY_LINE = TICKET_PRIVATE_KEY.splitlines()[1]  # a line of the key's material, which nothing may show

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


def decode(ticket, audience=AUDIENCE, issuer=TICKET_ISSUER):
    """Verify the signature with the public key and the standard claims, as the gateway does."""
    return jwt.decode(
        ticket,
        TICKET_PUBLIC_KEY,
        algorithms=["RS256"],
        audience=audience,
        issuer=issuer,
        options={"require": ["exp", "iat", "iss", "aud", "sub", "jti"]},
    )


def issue(block, settings=None):
    """POST {} to the handler; returns (status, body)."""
    if settings is None:
        return call_handler(block, "chat_ticket", {})
    with override_settings(XBLOCK_SETTINGS={"IbalXBlock": settings}):
        return call_handler(block, "chat_ticket", {})


def lms_block(opt_attrs, bucket=None, **kwargs):
    return platform_block(
        {"IbalXBlock": chat_bucket() if bucket is None else bucket},
        FakeUsageKey(USAGE, COURSE),
        opt_attrs=opt_attrs,
        **kwargs,
    )


# ---------------------------------------------------------------- the ticket


def test_learner_ticket_in_the_workbench():
    block = workbench_block('<ibalxblock display_name="Unit 3 assistant" assistant_instructions="Focus on unit 3."/>')
    before = int(time.time())
    status, body = issue(block, chat_bucket())
    assert status == 200, body
    assert set(body) == {"ticket", "expires_in"}
    assert body["expires_in"] == 300

    header = jwt.get_unverified_header(body["ticket"])
    assert header == {"alg": "RS256", "typ": "JWT", "kid": jwk_thumbprint(TICKET_PUBLIC_KEY)}
    claims = decode(body["ticket"])
    assert before <= claims["iat"] <= int(time.time())
    assert claims["exp"] - claims["iat"] == 300
    assert len(claims.pop("jti")) == 32
    del claims["iat"], claims["exp"]
    # The workbench's user service knows only its user id ("student_1"): username and subject.
    assert claims == {
        "iss": TICKET_ISSUER,
        "aud": AUDIENCE,
        "sub": "student_1",
        "preferred_username": "student_1",
        "course_id": "",
        "usage_id": str(block.scope_ids.usage_id),
        "role": "learner",
        "global_staff": False,
        "title": "Unit 3 assistant",
        "instructions": "Focus on unit 3.",
    }


def test_learner_ticket_in_the_lms():
    status, body = issue(lms_block(LEARNER))
    assert status == 200, body
    claims = decode(body["ticket"])
    # Outside the LMS process the global anonymous id cannot be computed: the user service's id is used.
    assert claims["sub"] == LEARNER["edx-platform.anonymous_user_id"]
    assert claims["preferred_username"] == "jane"
    assert claims["user_id"] == 42
    assert claims["course_id"] == COURSE
    assert claims["usage_id"] == USAGE
    assert claims["role"] == "learner"
    assert claims["global_staff"] is False
    assert claims["title"] == "IBAL Chat"
    assert claims["instructions"] == ""


@pytest.mark.parametrize(
    ("changes", "role", "global_staff"),
    [
        ({"edx-platform.user_role": "staff", "edx-platform.user_is_staff": True}, "staff", False),
        ({"edx-platform.user_role": "student", "edx-platform.user_is_staff": True}, "staff", False),
        ({"edx-platform.user_role": "staff"}, "staff", False),
        ({"edx-platform.user_role": "instructor", "edx-platform.user_is_staff": True}, "instructor", False),
        (
            {"edx-platform.user_role": "staff", "edx-platform.user_is_staff": True,
             "edx-platform.user_is_global_staff": True},
            "staff",
            True,
        ),
        ({"edx-platform.user_is_global_staff": True}, "learner", True),
        ({"edx-platform.user_is_staff": "yes"}, "learner", False),  # only a real True counts
    ],
)
def test_roles(changes, role, global_staff):
    status, body = issue(lms_block({**LEARNER, **changes}))
    assert status == 200, body
    claims = decode(body["ticket"])
    assert claims["role"] == role
    assert claims["global_staff"] is global_staff


def test_course_staff_in_the_workbench_runtime_flag():
    block = workbench_block()
    block.runtime.user_is_staff = True
    status, body = issue(block, chat_bucket())
    assert status == 200, body
    assert decode(body["ticket"])["role"] == "staff"


def test_each_ticket_has_its_own_jti():
    block = lms_block(LEARNER)
    tickets = [issue(block)[1]["ticket"] for _ in range(3)]
    jtis = {decode(ticket)["jti"] for ticket in tickets}
    assert len(jtis) == 3
    assert all(len(jti) == 32 and int(jti, 16) >= 0 for jti in jtis)


def test_key_id_ttl_and_issuer_from_settings():
    bucket = chat_bucket(TICKET_KEY_ID="ibal-2025-01", TICKET_TTL=60, TICKET_ISSUER="https://learn.example.org/")
    status, body = issue(lms_block(LEARNER, bucket))
    assert status == 200, body
    assert body["expires_in"] == 60
    assert jwt.get_unverified_header(body["ticket"])["kid"] == "ibal-2025-01"
    claims = decode(body["ticket"], issuer="https://learn.example.org")
    assert claims["exp"] - claims["iat"] == 60


def test_issuer_defaults_to_the_lms_root_url():
    block = lms_block(LEARNER, chat_bucket(TICKET_ISSUER=None))
    with override_settings(LMS_ROOT_URL="https://lms.example.org/"):
        status, body = issue(block)
    assert status == 200, body
    assert decode(body["ticket"], issuer="https://lms.example.org")["iss"] == "https://lms.example.org"


@pytest.mark.parametrize(
    ("gateway_url", "audience"),
    [
        ("HTTPS://Chat.Example.org:443/ibal/", "https://chat.example.org"),
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
    ],
)
def test_audience_is_the_gateway_origin(gateway_url, audience):
    status, body = issue(lms_block(LEARNER, chat_bucket(GATEWAY_URL=gateway_url)))
    assert status == 200, body
    assert decode(body["ticket"], audience=audience)["aud"] == audience


def test_long_title_and_instructions_are_cut():
    block = lms_block(LEARNER, fields={"display_name": "t" * 300, "assistant_instructions": "i" * 9000})
    claims = decode(issue(block)[1]["ticket"])
    assert claims["title"] == "t" * 255
    assert claims["instructions"] == "i" * 8000


def test_a_ticket_signed_with_another_key_does_not_verify():
    other_pem, _ = rsa_pem()
    status, body = issue(lms_block(LEARNER, chat_bucket(TICKET_PRIVATE_KEY=other_pem)))
    assert status == 200
    with pytest.raises(jwt.InvalidSignatureError):
        decode(body["ticket"])


# ------------------------------------------------------- the LMS subject (sub)


@pytest.fixture
def lms_models(monkeypatch):
    """edx-platform's common.djangoapps.student.models, reduced to anonymous_id_for_user."""
    calls = []

    def anonymous_id_for_user(user, course_id):
        calls.append((user, course_id))
        return f"global-{user.username}"

    names = ["common", "common.djangoapps", "common.djangoapps.student", "common.djangoapps.student.models"]
    for name in names:
        monkeypatch.setitem(sys.modules, name, types.ModuleType(name))
    sys.modules["common.djangoapps.student.models"].anonymous_id_for_user = anonymous_id_for_user
    return calls


class DjangoUserService:
    """Like edx-platform's DjangoXBlockUserService: keeps the request's Django user."""

    def __init__(self, django_user, opt_attrs):
        self._django_user = django_user
        self._user = FakeUser(opt_attrs)

    def get_current_user(self):
        return self._user


def test_sub_is_the_global_anonymous_id_of_the_service_user(lms_models):
    django_user = types.SimpleNamespace(username="jane")
    block = lms_block(None, user_service=DjangoUserService(django_user, LEARNER))
    status, body = issue(block)
    assert status == 200, body
    assert decode(body["ticket"])["sub"] == "global-jane"
    assert lms_models == [(django_user, None)]  # None: the global id, as in the LMS's own JWTs


def test_sub_looks_the_django_user_up_by_username(lms_models):
    user = get_user_model().objects.create(username="lookup-jane")
    user_pk = user.pk
    try:
        status, body = issue(lms_block({**LEARNER, "edx-platform.username": "lookup-jane"}))
    finally:
        user.delete()
    assert status == 200, body
    assert decode(body["ticket"])["sub"] == "global-lookup-jane"
    [(looked_up, course_id)] = lms_models
    assert (looked_up.pk, course_id) == (user_pk, None)


def test_sub_falls_back_when_the_lms_cannot_compute_it(lms_models, caplog):
    # No Django user "jane" in this database: the lookup fails, the user service's id is used.
    with caplog.at_level(logging.WARNING, logger="ibal_xblock"):
        status, body = issue(lms_block(LEARNER))
    assert status == 200, body
    assert decode(body["ticket"])["sub"] == LEARNER["edx-platform.anonymous_user_id"]
    assert lms_models == []
    assert any("cannot compute the LMS subject" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(
    ("removed", "sub"),
    [
        (("edx-platform.anonymous_user_id",), "42"),
        (("edx-platform.anonymous_user_id", "edx-platform.user_id"), "runtime-user-7"),
    ],
)
def test_sub_fallback_order(removed, sub):
    attrs = {name: value for name, value in LEARNER.items() if name not in removed}
    block = lms_block(attrs)
    block.runtime.user_id = "runtime-user-7"
    status, body = issue(block)
    assert status == 200, body
    claims = decode(body["ticket"])
    assert claims["sub"] == sub
    assert ("user_id" in claims) is ("edx-platform.user_id" in attrs)


# ------------------------------------------------------------------ refusals


@pytest.mark.parametrize(
    "opt_attrs",
    [
        {"edx-platform.is_authenticated": False},
        {**LEARNER, "edx-platform.is_authenticated": False},
        {"edx-platform.is_authenticated": True},  # no username
        {"edx-platform.username": "   "},
        None,  # the user service has no current user
    ],
)
def test_anonymous_users_are_refused(opt_attrs):
    status, body = issue(lms_block(opt_attrs))
    assert status == 403
    assert body == {"error": "Sign in to use the chat."}


def test_anonymous_users_are_refused_before_the_configuration_is_read():
    # Even staff-looking anonymous requests learn nothing about the settings.
    status, body = issue(lms_block({"edx-platform.is_authenticated": False, "edx-platform.user_is_staff": True}, {}))
    assert status == 403
    assert "XBLOCK_SETTINGS" not in str(body)


def test_missing_key_refused_with_503(caplog):
    bucket = chat_bucket(TICKET_PRIVATE_KEY=None)
    with caplog.at_level(logging.WARNING, logger="ibal_xblock"):
        learner = issue(lms_block(LEARNER, bucket))
        staff = issue(lms_block({**LEARNER, "edx-platform.user_is_staff": True}, bucket))
    assert learner == (503, {"error": NEUTRAL})
    status, body = staff
    assert status == 503
    assert 'XBLOCK_SETTINGS["IbalXBlock"]["TICKET_PRIVATE_KEY"] is missing' in body["error"]
    records = [r for r in caplog.records if r.name.startswith("ibal_xblock")]
    assert len(records) == 2  # one line per refused request
    assert all("TICKET_PRIVATE_KEY" in r.getMessage() and r.levelno == logging.WARNING for r in records)


@pytest.mark.parametrize(
    ("overrides", "key", "fragment"),
    [
        ({"TICKET_PRIVATE_KEY": "-----BEGIN RSA PRIVATE KEY-----\nnot base64\n-----END RSA PRIVATE KEY-----"},
         "TICKET_PRIVATE_KEY", "is not a PEM private key"),
        ({"TICKET_PRIVATE_KEY": rsa_pem(1024)[0]}, "TICKET_PRIVATE_KEY", "is a 1024-bit RSA key"),
        ({"SIGN_IN": "both"}, "SIGN_IN", 'must be "popup" or "lms"'),
        ({"TICKET_TTL": 10}, "TICKET_TTL", "between 30 and 300"),
        ({"TICKET_TTL": 3600}, "TICKET_TTL", "between 30 and 300"),
        ({"TICKET_ISSUER": None}, "TICKET_ISSUER", "LMS_ROOT_URL"),
        ({"GATEWAY_URL": None}, "GATEWAY_URL", "is missing"),
    ],
)
def test_bad_configuration_refused_with_503(overrides, key, fragment, caplog):
    bucket = chat_bucket(**overrides)
    with caplog.at_level(logging.WARNING, logger="ibal_xblock"):
        status, body = issue(lms_block({**LEARNER, "edx-platform.user_is_staff": True}, bucket))
        learner = issue(lms_block(LEARNER, bucket))
    assert status == 503
    assert f'XBLOCK_SETTINGS["IbalXBlock"]["{key}"]' in body["error"]
    assert fragment in body["error"]
    assert learner == (503, {"error": NEUTRAL})
    logged = " ".join(r.getMessage() for r in caplog.records)
    assert f'["{key}"]' in logged
    for pem in (TICKET_PRIVATE_KEY, bucket.get("TICKET_PRIVATE_KEY", "")):
        for line in pem.splitlines()[1:-1]:
            assert line not in logged and line not in body["error"]


def test_handler_needs_post():
    block = lms_block(LEARNER)
    assert call_handler(block, "chat_ticket", b"", method="GET")[0] == 405


def test_the_ticket_is_never_logged(caplog):
    with caplog.at_level(logging.DEBUG):
        status, body = issue(lms_block(LEARNER))
    assert status == 200
    logged = " ".join(r.getMessage() for r in caplog.records)
    assert body["ticket"] not in logged
    assert body["ticket"].split(".")[2] not in logged
    assert KEY_LINE not in logged
