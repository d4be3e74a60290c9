"""Studio side: studio_view form, studio_submit / submit_studio_edits handlers, author_view, validate()."""

import html

import pytest
from django.test import override_settings
from xblock.utils.studio_editable import FutureFields
from xblock.validation import Validation, ValidationMessage

from ibal_xblock import IbalXBlock
from ibal_xblock.ibal_xblock import STYLE_PROMPTS

from .helpers import GATEWAY_URL, call_handler, chat_bucket, workbench_block

EDITABLE = (
    "display_name",
    "welcome_message",
    "mode",
    "room_assistant",
    "starters",
    "tutor_style",
    "style_prompt",
    "assistant_instructions",
    "disclosure",
)


def test_studio_view_is_a_form_for_the_course_fields():
    block = workbench_block()
    frag = block.render("studio_view", {})
    body = frag.body_html()
    assert IbalXBlock.editable_fields == EDITABLE
    for name in EDITABLE:
        assert f'data-field-name="{name}"' in body
    assert "gateway" not in body.lower()
    assert frag.js_init_fn is None or frag.js_init_fn == "StudioEditableXBlockMixin"
    assert "data-init='StudioEditableXBlockMixin'" in body
    # The multiline fields are textareas, the choices (and the assistant in the live room, true or false)
    # drop-downs.
    assert body.count("<textarea") == 4
    assert body.count("<select") == 3
    assert "Assistant in the live room" in body and "@assistant" in body
    for value in ("assistant", "room", "both", "guide", "direct"):
        assert f'value="{value}"' in body
    assert "Guide, don&#x27;t give the answer" in body or "Guide, don't give the answer" in body
    # The team sees the standard prompt of the default style, and can edit it.
    assert html.escape(STYLE_PROMPTS["guide"], quote=False)[:60] in body


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
    assert set(body["values"]) == set(EDITABLE)
    assert {name: body["values"][name] for name in ("display_name", "welcome_message", "assistant_instructions")} == {
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
        ("studio_submit", {"display_name": True}, "display_name must be text"),
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


# ------------------------------------------------------- course team controls


def saved(block):
    return block.runtime.get_block(block.scope_ids.usage_id)


def test_controls_are_saved():
    block = workbench_block()
    status, body = call_handler(
        block,
        "studio_submit",
        {
            "mode": "both",
            "starters": "  What is ATP?  \n\n\nWhy is oxygen released?\n   \n",
            "tutor_style": "direct",
            "disclosure": "  AI answers; check them.  ",
        },
    )
    assert status == 200, body
    block = saved(block)
    assert block.mode == "both"
    # Blank lines dropped, each line trimmed.
    assert block.starters == "What is ATP?\nWhy is oxygen released?"
    assert block.tutor_style == "direct"
    assert block.disclosure == "AI answers; check them."
    # The style prompt was the standard text: it now shows the chosen style's.
    assert block.style_prompt == STYLE_PROMPTS["direct"]


def test_a_standard_style_prompt_follows_the_style_and_a_custom_one_stays():
    block = workbench_block()
    assert call_handler(block, "studio_submit", {"tutor_style": "direct"})[0] == 200
    assert saved(block).style_prompt == STYLE_PROMPTS["direct"]
    # The Studio form sends the prompt back as shown with the style changed back: the standard text follows.
    payload = {"values": {"tutor_style": "guide", "style_prompt": STYLE_PROMPTS["direct"]}, "defaults": []}
    assert call_handler(block, "submit_studio_edits", payload)[0] == 200
    assert saved(block).style_prompt == STYLE_PROMPTS["guide"]
    # A prompt of the team's own is theirs whatever the style.
    payload = {"values": {"tutor_style": "direct", "style_prompt": "Answer like a pirate."}, "defaults": []}
    assert call_handler(block, "submit_studio_edits", payload)[0] == 200
    block = saved(block)
    assert (block.tutor_style, block.style_prompt) == ("direct", "Answer like a pirate.")
    assert block.effective_style_prompt() == "Answer like a pirate."
    # Blank: the standard text again.
    assert call_handler(block, "studio_submit", {"style_prompt": "   "})[0] == 200
    assert saved(block).style_prompt == STYLE_PROMPTS["direct"]


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        ({"mode": "lecture"}, "mode must be one of assistant, room, both"),
        ({"mode": ""}, "mode must be one of"),
        ({"tutor_style": "socratic"}, "tutor_style must be one of direct, guide"),
        ({"starters": "a\nb\nc\nd\ne"}, "starters has 5 lines; at most 4"),
        ({"starters": "fine\n" + "x" * 201}, "starters line 2 is too long (201 characters, at most 200)"),
        ({"style_prompt": "x" * 2001}, "style_prompt is too long"),
        ({"disclosure": "x" * 1001}, "disclosure is too long"),
        ({"starters": 42}, "starters must be text"),
    ],
)
def test_invalid_controls_are_rejected(payload, reason):
    block = workbench_block('<ibalxblock mode="room" starters="Keep me"/>')
    status, body = call_handler(block, "studio_submit", payload)
    assert status == 400
    assert reason in str(body)
    block = saved(block)
    assert (block.mode, block.starters) == ("room", "Keep me")


def test_four_starters_of_200_characters_are_fine():
    block = workbench_block()
    starters = "\n".join(str(n) * 200 for n in range(4))
    assert call_handler(block, "studio_submit", {"starters": starters})[0] == 200
    assert saved(block).starter_list() == starters.split("\n")


def test_validate_flags_imported_values_that_studio_would_refuse():
    block = workbench_block('<ibalxblock mode="lecture" tutor_style="socratic"/>')
    with override_settings(XBLOCK_SETTINGS={"IbalXBlock": chat_bucket()}):
        texts = [message.text for message in block.validate().messages]
    assert any("mode must be one of" in text for text in texts)
    assert any("tutor_style must be one of" in text for text in texts)
    # Meanwhile the chat uses the defaults.
    assert (block.chat_mode(), block.chat_tutor_style()) == ("assistant", "guide")


def test_author_view_shows_the_controls():
    block = workbench_block(
        '<ibalxblock mode="both" starters="One?&#10;Two?&#10;Three?" tutor_style="direct" '
        'style_prompt="Answer like a pirate."/>'
    )
    with override_settings(XBLOCK_SETTINGS={"IbalXBlock": chat_bucket()}):
        body = block.render("author_view", {}).body_html()
    assert "Chat mode: Both, in tabs" in body
    assert "3 conversation starters." in body
    assert "Tutoring style: Answer directly (custom style prompt)" in body
    assert "exam mode" not in body
    assert "Answer like a pirate" not in body  # the prompt itself is for the form, not the preview


def test_author_view_defaults():
    block = workbench_block()
    with override_settings(XBLOCK_SETTINGS={"IbalXBlock": chat_bucket()}):
        body = block.render("author_view", {}).body_html()
    assert "Chat mode: Course assistant" in body
    assert "No conversation starters." in body
    assert html.escape("Tutoring style: Guide, don't give the answer (standard style prompt)") in body


def test_author_view_notes_an_exam_subsection():
    course = workbench_block(
        '<course display_name="C"><chapter><sequential is_time_limited="true"><vertical>'
        "<ibalxblock/></vertical></sequential></chapter></course>"
    )
    chat = course.get_children()[0].get_children()[0].get_children()[0].get_children()[0]
    with override_settings(XBLOCK_SETTINGS={"IbalXBlock": chat_bucket()}):
        body = chat.render("author_view", {}).body_html()
    assert "This subsection is a timed or proctored exam: the chat runs in exam mode here" in body


# ------------------------------------------------------- the assistant in the live room


def test_the_assistant_in_the_live_room_is_on_by_default():
    block = workbench_block()
    assert block.room_assistant is True
    assert block.room_assistant_on() is True


def test_the_studio_form_turns_the_room_assistant_off_and_back_to_the_default():
    block = workbench_block('<ibalxblock mode="room"/>')
    # The Studio form sends a boolean field as a JSON boolean.
    payload = {"values": {"room_assistant": False}, "defaults": []}
    status, body = call_handler(block, "submit_studio_edits", payload)
    assert status == 200, body
    assert body["values"]["room_assistant"] is False
    block = saved(block)
    assert block.room_assistant is False
    assert block.room_assistant_on() is False
    assert call_handler(block, "submit_studio_edits", {"values": {}, "defaults": ["room_assistant"]})[0] == 200
    block = saved(block)
    assert block.room_assistant is True
    assert not block.fields["room_assistant"].is_set_on(block)


def test_studio_submit_saves_the_room_assistant_with_other_fields():
    block = workbench_block()
    status, body = call_handler(block, "studio_submit", {"mode": "both", "room_assistant": False})
    assert status == 200, body
    block = saved(block)
    assert (block.mode, block.room_assistant) == ("both", False)
    assert call_handler(block, "studio_submit", {"room_assistant": True})[0] == 200
    assert saved(block).room_assistant is True


@pytest.mark.parametrize("value", ["false", "true", "", 0, 1, None, [], {"on": True}])
def test_the_room_assistant_must_be_true_or_false(value):
    block = workbench_block('<ibalxblock mode="room" room_assistant="false" display_name="Keep me"/>')
    status, body = call_handler(block, "studio_submit", {"display_name": "New name", "room_assistant": value})
    assert status == 400
    assert "room_assistant must be true or false" in str(body)
    block = saved(block)
    assert (block.display_name, block.room_assistant) == ("Keep me", False)


def test_validate_checks_the_room_assistant_is_true_or_false():
    block = workbench_block()
    validation = Validation(block.scope_ids.usage_id)
    block.validate_field_data(validation, FutureFields({"room_assistant": "off"}, [], block))
    [message] = validation.messages
    assert message.type == ValidationMessage.ERROR
    assert "room_assistant must be true or false" in message.text


def test_olx_sets_the_room_assistant():
    assert workbench_block('<ibalxblock room_assistant="false"/>').room_assistant is False
    assert workbench_block('<ibalxblock room_assistant="true"/>').room_assistant is True


@pytest.mark.parametrize(
    ("olx", "note"),
    [
        (
            '<ibalxblock mode="room"/>',
            "In the live room, learners can call the assistant with @assistant (where the platform enables it).",
        ),
        (
            '<ibalxblock mode="both"/>',
            "In the live room, learners can call the assistant with @assistant (where the platform enables it).",
        ),
        ('<ibalxblock mode="room" room_assistant="false"/>', "The assistant does not answer in the live room."),
    ],
)
def test_author_view_tells_whether_the_assistant_answers_in_the_live_room(olx, note):
    block = workbench_block(olx)
    with override_settings(XBLOCK_SETTINGS={"IbalXBlock": chat_bucket()}):
        body = block.render("author_view", {}).body_html()
    assert note in body


@pytest.mark.parametrize("room_assistant", ["true", "false"])
def test_author_view_says_nothing_of_the_live_room_without_one(room_assistant):
    block = workbench_block(f'<ibalxblock mode="assistant" room_assistant="{room_assistant}"/>')
    with override_settings(XBLOCK_SETTINGS={"IbalXBlock": chat_bucket()}):
        body = block.render("author_view", {}).body_html()
    assert "live room" not in body
