"""The publish_event handler: the chat's analytics events, published through the runtime, never with any text."""

import json
import logging

import pytest
from django.test import Client, override_settings
from workbench.scenarios import get_scenarios

from ibal_xblock.events import EVENT_TYPES

from .helpers import LEARNER, FakeUsageKey, call_handler, chat_bucket, platform_block, workbench_block

USAGE = "block-v1:OpenedX+DemoX+2025+type@ibalxblock+block@0123456789abcdef"
COURSE = "course-v1:OpenedX+DemoX+2025"
SECRET = "My secret question: is the answer to quiz 3 mitochondria?"
RATING_ERROR = 'rating must be "up", "down" or a whole number from 1 to 5.'


#: What every event holds, from the block, for LEARNER in a block with the default mode.
CONTEXT = {"course_id": COURSE, "usage_id": USAGE, "role": "learner", "mode": "assistant"}


def lms_block(opt_attrs=LEARNER, bucket=None, **kwargs):
    return platform_block(
        {"IbalXBlock": chat_bucket() if bucket is None else bucket},
        FakeUsageKey(USAGE, COURSE),
        opt_attrs=opt_attrs,
        **kwargs,
    )


def send(block, payload):
    return call_handler(block, "publish_event", payload)


def published(block):
    """``(event_type, event_data)`` of everything the block published, checking each came from this block."""
    assert all(source is block for source, _type, _data in block.runtime.published)
    return [(event_type, data) for _block, event_type, data in block.runtime.published]


# ------------------------------------------------------------------ events


def test_chat_opened():
    block = lms_block()
    assert send(block, {"event_type": "ibal.chat.opened"}) == (200, {"result": "success"})
    assert published(block) == [("ibal.chat.opened", CONTEXT)]


def test_message_sent():
    block = lms_block()
    status, body = send(block, {"event_type": "ibal.message.sent", "length": 57, "conversation_messages": 4})
    assert (status, body) == (200, {"result": "success"})
    assert published(block) == [("ibal.message.sent", {**CONTEXT, "length": 57, "conversation_messages": 4})]


@pytest.mark.parametrize("length", [0, 1, 100_000])
def test_message_sent_without_a_message_count(length):
    block = lms_block()
    assert send(block, {"event_type": "ibal.message.sent", "length": length})[0] == 200
    send(block, {"event_type": "ibal.message.sent", "length": length, "conversation_messages": None})
    assert published(block) == [("ibal.message.sent", {**CONTEXT, "length": length})] * 2


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"rating": "up", "has_comment": False}, {"rating": "up", "has_comment": False}),
        ({"rating": "down", "has_comment": True}, {"rating": "down", "has_comment": True}),
        ({"rating": 1}, {"rating": 1, "has_comment": False}),
        ({"rating": 5, "has_comment": None}, {"rating": 5, "has_comment": False}),
    ],
)
def test_reply_rated(fields, expected):
    block = lms_block()
    assert send(block, {"event_type": "ibal.reply.rated", **fields}) == (200, {"result": "success"})
    assert published(block) == [("ibal.reply.rated", {**CONTEXT, **expected})]


def test_only_whitelisted_fields_are_published_and_text_is_dropped(caplog):
    block = lms_block(fields={"mode": "both"})
    forged = {
        # The context is the block's, whatever the request says.
        "course_id": "course-v1:Evil+X+1",
        "usage_id": "block-v1:Evil+X+1+type@html+block@1",
        "role": "instructor",
        "mode": "room",
        "username": "someone-else",
        "user_id": 7,
        # Text of any kind never reaches the event.
        "text": SECRET,
        "message": SECRET,
        "comment": SECRET,
        "reply": {"text": SECRET},
        "messages": [SECRET],
    }
    with caplog.at_level(logging.DEBUG):
        assert send(block, {"event_type": "ibal.message.sent", "length": len(SECRET), **forged})[0] == 200
        assert (
            send(block, {"event_type": "ibal.reply.rated", "rating": "down", "has_comment": True, **forged})[0] == 200
        )
        assert send(block, {"event_type": "ibal.chat.opened", **forged})[0] == 200
    context = {**CONTEXT, "mode": "both"}
    assert published(block) == [
        ("ibal.message.sent", {**context, "length": len(SECRET)}),
        ("ibal.reply.rated", {**context, "rating": "down", "has_comment": True}),
        ("ibal.chat.opened", context),
    ]
    assert SECRET not in json.dumps(published(block))
    assert "secret" not in caplog.text.lower()


@pytest.mark.parametrize(
    ("changes", "role"),
    [
        ({"edx-platform.user_role": "staff", "edx-platform.user_is_staff": True}, "staff"),
        ({"edx-platform.user_role": "instructor", "edx-platform.user_is_staff": True}, "instructor"),
        ({"edx-platform.user_is_global_staff": True}, "learner"),
    ],
)
def test_the_role_is_the_users_course_role(changes, role):
    block = lms_block({**LEARNER, **changes})
    assert send(block, {"event_type": "ibal.chat.opened", "role": "learner"})[0] == 200
    assert published(block) == [("ibal.chat.opened", {**CONTEXT, "role": role})]


@pytest.mark.parametrize(("mode", "published_mode"), [("room", "room"), ("both", "both"), ("lecture", "assistant")])
def test_the_mode_is_the_blocks(mode, published_mode):
    block = lms_block(fields={"mode": mode})
    assert send(block, {"event_type": "ibal.chat.opened"})[0] == 200
    assert published(block) == [("ibal.chat.opened", {**CONTEXT, "mode": published_mode})]


def test_events_need_no_gateway_settings():
    # The runtime publishes them; the gateway and the ticket key play no part.
    block = lms_block(bucket={})
    assert send(block, {"event_type": "ibal.chat.opened"})[0] == 200
    assert published(block) == [("ibal.chat.opened", CONTEXT)]


# ---------------------------------------------------------------- refusals


@pytest.mark.parametrize(
    ("payload", "error"),
    [
        ([], "Expected a JSON object."),
        ("ibal.chat.opened", "Expected a JSON object."),
        (None, "Expected a JSON object."),
        ({}, "Unknown event type."),
        ({"event_type": "ibal.chat.closed"}, "Unknown event type."),
        ({"event_type": "IBAL.CHAT.OPENED"}, "Unknown event type."),
        ({"event_type": ["ibal.chat.opened"]}, "Unknown event type."),
        ({"event_type": SECRET}, "Unknown event type."),
        ({"event_type": "ibal.message.sent"}, "length is required."),
        ({"event_type": "ibal.message.sent", "length": None}, "length is required."),
        ({"event_type": "ibal.message.sent", "length": -1}, "length must be a whole number from 0 to 100000."),
        ({"event_type": "ibal.message.sent", "length": 100_001}, "length must be a whole number from 0 to 100000."),
        ({"event_type": "ibal.message.sent", "length": "12"}, "length must be a whole number from 0 to 100000."),
        ({"event_type": "ibal.message.sent", "length": 12.0}, "length must be a whole number from 0 to 100000."),
        ({"event_type": "ibal.message.sent", "length": True}, "length must be a whole number from 0 to 100000."),
        ({"event_type": "ibal.message.sent", "length": SECRET}, "length must be a whole number from 0 to 100000."),
        (
            {"event_type": "ibal.message.sent", "length": 3, "conversation_messages": -1},
            "conversation_messages must be a whole number from 0 to 100000.",
        ),
        (
            {"event_type": "ibal.message.sent", "length": 3, "conversation_messages": "4"},
            "conversation_messages must be a whole number from 0 to 100000.",
        ),
        ({"event_type": "ibal.reply.rated"}, "rating is required."),
        ({"event_type": "ibal.reply.rated", "rating": "sideways"}, RATING_ERROR),
        ({"event_type": "ibal.reply.rated", "rating": "UP"}, RATING_ERROR),
        ({"event_type": "ibal.reply.rated", "rating": 0}, RATING_ERROR),
        ({"event_type": "ibal.reply.rated", "rating": 6}, RATING_ERROR),
        ({"event_type": "ibal.reply.rated", "rating": 4.5}, RATING_ERROR),
        ({"event_type": "ibal.reply.rated", "rating": True}, RATING_ERROR),
        ({"event_type": "ibal.reply.rated", "rating": SECRET}, RATING_ERROR),
        (
            {"event_type": "ibal.reply.rated", "rating": "up", "has_comment": "yes"},
            "has_comment must be true or false.",
        ),
        ({"event_type": "ibal.reply.rated", "rating": "up", "has_comment": 1}, "has_comment must be true or false."),
        (
            {"event_type": "ibal.reply.rated", "rating": "up", "has_comment": SECRET},
            "has_comment must be true or false.",
        ),
    ],
)
def test_bad_requests_are_refused_with_400(payload, error):
    block = lms_block()
    status, body = send(block, payload)
    assert (status, body) == (400, {"error": error})
    assert SECRET not in json.dumps(body)  # the error names the field, never the value
    assert published(block) == []


def test_invalid_json_and_get_are_refused():
    block = lms_block()
    assert call_handler(block, "publish_event", b"{not json")[0] == 400
    assert call_handler(block, "publish_event", b"", method="GET")[0] == 405
    assert published(block) == []


@pytest.mark.parametrize(
    "opt_attrs",
    [
        {"edx-platform.is_authenticated": False},
        {**LEARNER, "edx-platform.is_authenticated": False},
        {"edx-platform.is_authenticated": True},  # no username
        None,  # the user service has no current user
    ],
)
def test_anonymous_users_are_refused(opt_attrs):
    block = lms_block(opt_attrs)
    for payload in ({"event_type": "ibal.chat.opened"}, {"event_type": "nonsense"}):
        assert send(block, payload) == (403, {"error": "Sign in to use the chat."})
    assert published(block) == []


def test_a_failing_tracker_answers_503_and_logs_no_event_data(caplog):
    block = lms_block()

    def broken_publish(_block, _event_type, event_data):
        raise RuntimeError(f"tracker down: {event_data}")

    block.runtime.publish = broken_publish
    with caplog.at_level(logging.WARNING, logger="ibal_xblock"):
        status, body = send(block, {"event_type": "ibal.message.sent", "length": 12, "text": SECRET})
    assert (status, body) == (503, {"error": "The chat is not available right now."})
    assert f"IbalXBlock {USAGE} cannot publish ibal.message.sent (RuntimeError)" in caplog.text
    assert "tracker down" not in caplog.text and SECRET not in caplog.text


def test_the_event_types_are_the_documented_ones():
    assert EVENT_TYPES == ("ibal.chat.opened", "ibal.message.sent", "ibal.reply.rated")


# -------------------------------------------------------------- workbench


def test_the_workbench_runtime_publishes_the_event(caplog):
    # xblock-sdk's runtime.publish logs the event (the LMS's writes it to the tracking log).
    block = workbench_block()
    with caplog.at_level(logging.INFO, logger="workbench.runtime"):
        status, body = send(block, {"event_type": "ibal.reply.rated", "rating": 4, "comment": SECRET})
    assert (status, body) == (200, {"result": "success"})
    assert f"XBlock event ibal.reply.rated for ibalxblock (usage_id={block.scope_ids.usage_id})" in caplog.text
    [data] = [r.msg for r in caplog.records if isinstance(r.msg, dict)]
    assert data == {
        "course_id": "",
        "usage_id": str(block.scope_ids.usage_id),
        "role": "learner",
        "mode": "assistant",
        "rating": 4,
        "has_comment": False,
    }
    assert SECRET not in caplog.text


def test_publish_event_over_http_in_the_workbench(caplog):
    usage_id = get_scenarios()["ibalxblock.0"].usage_id
    client = Client()
    url = f"/handler/{usage_id}/publish_event/"
    with override_settings(XBLOCK_SETTINGS={"IbalXBlock": chat_bucket()}):
        with caplog.at_level(logging.INFO, logger="workbench.runtime"):
            response = client.post(url, json.dumps({"event_type": "ibal.chat.opened"}), content_type="application/json")
        extra = json.dumps({"event_type": "ibal.chat.opened", "length": -1, "rating": 9})
        ignored = client.post(url, extra, content_type="application/json")
        refused = client.post(url, json.dumps({"event_type": "ibal.chat"}), content_type="application/json")
    assert response.status_code == 200, response.content
    assert response.json() == {"result": "success"}
    assert "XBlock event ibal.chat.opened" in caplog.text
    assert ignored.status_code == 200  # chat.opened takes no fields: the others are dropped, not checked
    assert (refused.status_code, refused.json()) == (400, {"error": "Unknown event type."})
