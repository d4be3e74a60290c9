"""Studio side: studio_view form, studio_submit / submit_studio_edits handlers, author_view, validate()."""

import html

import pytest
from django.test import override_settings
from xblock.validation import ValidationMessage

from .helpers import GATEWAY_URL, call_handler, chat_bucket, workbench_block


def test_studio_view_is_a_form_for_the_three_fields():
    block = workbench_block()
    frag = block.render("studio_view", {})
    body = frag.body_html()
    for name in ("display_name", "welcome_message", "assistant_instructions"):
        assert f'data-field-name="{name}"' in body
    assert "gateway" not in body.lower()
    assert frag.js_init_fn is None or frag.js_init_fn == "StudioEditableXBlockMixin"
    assert "data-init='StudioEditableXBlockMixin'" in body
    # assistant_instructions is multiline: rendered as a textarea.
    assert "<textarea" in body


def test_studio_submit_saves_valid_values_flat():
    block = workbench_block()
    status, body = call_handler(
        block,
        "studio_submit",
        {
            "display_name": "  Course room  ",
            "welcome_message": "Welcome!",
            "assistant_instructions": "Be brief.\nCite.",
        },
    )
    assert status == 200, body
    assert body["result"] == "success"
    assert body["values"] == {
        "display_name": "Course room",
        "welcome_message": "Welcome!",
        "assistant_instructions": "Be brief.\nCite.",
    }
    # Saved through the runtime: a fresh instance of the same usage reads them back.
    reloaded = block.runtime.get_block(block.scope_ids.usage_id)
    assert reloaded.display_name == "Course room"
    assert reloaded.welcome_message == "Welcome!"
    assert reloaded.assistant_instructions == "Be brief.\nCite."


def test_studio_form_payload_saves_and_resets_to_defaults():
    block = workbench_block('<ibalxblock welcome_message="Old welcome" assistant_instructions="Old"/>')
    status, body = call_handler(
        block,
        "submit_studio_edits",
        {"values": {"display_name": "Assistant"}, "defaults": ["welcome_message", "assistant_instructions"]},
    )
    assert status == 200, body
    reloaded = block.runtime.get_block(block.scope_ids.usage_id)
    assert reloaded.display_name == "Assistant"
    assert reloaded.welcome_message == "Click Start Chat to begin"
    assert reloaded.assistant_instructions == ""


@pytest.mark.parametrize(
    ("handler", "payload", "reason"),
    [
        ("studio_submit", {"display_name": "   "}, "display_name must not be empty"),
        ("studio_submit", {"welcome_message": ""}, "welcome_message must not be empty"),
        ("studio_submit", {"display_name": "x" * 256}, "display_name is too long"),
        ("studio_submit", {"assistant_instructions": "x" * 8001}, "assistant_instructions is too long"),
        ("studio_submit", {"display_name": 42}, "display_name must be text"),
        ("studio_submit", {"display_name": None}, "display_name must be text"),
        ("studio_submit", {"gateway_url": "https://evil.example"}, "Unknown or non-editable fields: gateway_url"),
        ("studio_submit", {"GATEWAY_URL": "https://evil.example"}, "Unknown or non-editable fields: GATEWAY_URL"),
        ("studio_submit", ["display_name"], "Expected a JSON object"),
        ("submit_studio_edits", {"values": {"display_name": ""}, "defaults": []}, "display_name must not be empty"),
        ("submit_studio_edits", {"values": {"ws_url": "wss://evil"}, "defaults": []}, "Unknown or non-editable"),
        ("submit_studio_edits", {"values": {}, "defaults": ["gateway_url"]}, "Unknown or non-editable"),
    ],
)
def test_invalid_values_are_rejected_and_nothing_is_saved(handler, payload, reason):
    block = workbench_block('<ibalxblock display_name="Keep me" welcome_message="Keep this too"/>')
    status, body = call_handler(block, handler, payload)
    assert status == 400
    assert reason in str(body)
    reloaded = block.runtime.get_block(block.scope_ids.usage_id)
    assert reloaded.display_name == "Keep me"
    assert reloaded.welcome_message == "Keep this too"
    assert not hasattr(reloaded, "gateway_url")


def test_one_bad_field_saves_none_of_the_others():
    block = workbench_block('<ibalxblock display_name="Keep me"/>')
    status, _body = call_handler(block, "studio_submit", {"display_name": "New name", "welcome_message": " "})
    assert status == 400
    assert block.runtime.get_block(block.scope_ids.usage_id).display_name == "Keep me"


def test_studio_submit_rejects_get_and_bad_json():
    block = workbench_block()
    assert call_handler(block, "studio_submit", b"", method="GET")[0] == 405
    assert call_handler(block, "studio_submit", b"{not json")[0] == 400


def test_author_view_is_a_preview_note():
    block = workbench_block('<ibalxblock display_name="Course room" welcome_message="Say hi"/>')
    with override_settings(XBLOCK_SETTINGS={"IbalXBlock": chat_bucket()}):
        frag = block.render("author_view", {})
    body = frag.body_html()
    assert "IBAL chat: learners see the chat here" in body
    assert "Course room" in body and "Say hi" in body
    assert GATEWAY_URL in body
    assert "not configured" not in body
    assert "ibal-xblock-mount" not in body
    assert frag.js_init_fn is None


def test_author_view_tells_authors_when_the_gateway_is_not_configured():
    block = workbench_block()
    with override_settings(XBLOCK_SETTINGS={}):
        body = block.render("author_view", {}).body_html()
    assert "IBAL chat: learners see the chat here" in body
    assert html.escape('XBLOCK_SETTINGS["IbalXBlock"]["GATEWAY_URL"]', quote=True) in body


def test_author_view_tells_authors_when_the_ticket_key_is_missing():
    block = workbench_block()
    with override_settings(XBLOCK_SETTINGS={"IbalXBlock": chat_bucket(TICKET_PRIVATE_KEY=None)}):
        body = block.render("author_view", {}).body_html()
    assert GATEWAY_URL in body  # the gateway settings are fine and still shown
    assert html.escape('XBLOCK_SETTINGS["IbalXBlock"]["TICKET_PRIVATE_KEY"] is missing', quote=True) in body


def test_validate_warns_when_not_configured_and_checks_fields():
    block = workbench_block()
    with override_settings(XBLOCK_SETTINGS={"IbalXBlock": chat_bucket()}):
        assert block.validate().empty
    with override_settings(XBLOCK_SETTINGS={}):
        validation = block.validate()
    [message] = validation.messages
    assert message.type == ValidationMessage.WARNING
    assert 'XBLOCK_SETTINGS["IbalXBlock"]["GATEWAY_URL"]' in message.text

    with override_settings(XBLOCK_SETTINGS={"IbalXBlock": {"GATEWAY_URL": GATEWAY_URL}}):
        [message] = block.validate().messages
    assert message.type == ValidationMessage.WARNING
    assert 'XBLOCK_SETTINGS["IbalXBlock"]["TICKET_PRIVATE_KEY"] is missing' in message.text

    block.display_name = ""
    with override_settings(XBLOCK_SETTINGS={"IbalXBlock": chat_bucket()}):
        [message] = block.validate().messages
    assert message.type == ValidationMessage.ERROR
    assert "display_name must not be empty" in message.text
