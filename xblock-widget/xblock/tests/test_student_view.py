"""student_view in real XBlock runtimes: mount point, resources, initialize_js settings, missing settings."""

import html
import json
import logging

import pytest
from django.conf import settings as django_settings
from django.test import override_settings

from ibal_xblock import IbalXBlock, __version__
from ibal_xblock.ibal_xblock import MOUNT_SETTINGS_KEYS

from .helpers import (
    GATEWAY_URL,
    TICKET_PRIVATE_KEY,
    FakeUsageKey,
    chat_bucket,
    init_args_from_html,
    platform_block,
    rsa_pem,
    workbench_block,
)

STAFF_SETTING = 'XBLOCK_SETTINGS["IbalXBlock"]["GATEWAY_URL"]'
NEUTRAL = "The chat is not available right now."


def gateway_settings(**bucket):
    """Exactly ``bucket`` as the block's settings."""
    return override_settings(XBLOCK_SETTINGS={"IbalXBlock": bucket})


def chat_settings(**overrides):
    """Complete settings (gateway and chat ticket), with ``overrides``."""
    return override_settings(XBLOCK_SETTINGS={"IbalXBlock": chat_bucket(**overrides)})


def js_texts(frag):
    """Inline JavaScript added by the block (the workbench wrapper adds jQuery URLs, which are not ours)."""
    return [r.data for r in frag.resources if r.mimetype == "application/javascript" and r.kind == "text"]


def css_texts(frag):
    return [r.data for r in frag.resources if r.mimetype == "text/css" and r.kind == "text"]


def test_student_view_renders_mount_point_resources_and_settings():
    block = workbench_block()
    with chat_settings():
        frag = block.render("student_view", {})
    body = frag.body_html()

    assert 'class="ibal-xblock-mount"' in body
    assert "data-init='IbalXBlock'" in body
    assert any("function IbalXBlock(runtime, element, args)" in js for js in js_texts(frag))
    assert any(".ibal-xblock-mount" in css for css in css_texts(frag))

    [args] = init_args_from_html(body)
    assert args == {
        "gateway_url": "https://chat.local.openedx.io",
        "ws_url": "wss://chat.local.openedx.io/ws/chat/",
        "widget_url": f"https://chat.local.openedx.io/static/widget/{__version__}/ibal_widget.js",
        "course_id": "",
        "usage_id": str(block.scope_ids.usage_id),
        "display_name": "IBAL Chat",
        "welcome_message": "Click Start Chat to begin",
        # The workbench's i18n service is Django's translation module: LANGUAGE_CODE "en-us".
        "lang": "en-us",
        "sign_in": "popup",
        "ticket_handler": "chat_ticket",
        "event_handler": "publish_event",
        # xblock-sdk's package_resource URL for the block's public/relay.html.
        "auth_relay_url": "/resource/ibalxblock/public/relay.html",
        "mode": "assistant",
        "starters": [],
    }
    assert tuple(args) == MOUNT_SETTINGS_KEYS


def test_the_service_client_never_reaches_the_page():
    # SERVICE_* are for Studio's and the LMS's server-to-server calls (ibal_xblock/openedx/), not for browsers.
    secret = "svc-secret-never-in-a-page"
    block = workbench_block()
    with chat_settings(SERVICE_URL="http://llm:8000", SERVICE_CLIENT_ID="ibal-openedx", SERVICE_CLIENT_SECRET=secret):
        pages = [block.render(view, {}).body_html() for view in ("student_view", "author_view")]
    for page in pages:
        for value in (secret, "http://llm:8000", "ibal-openedx"):
            assert value not in page
    [args] = init_args_from_html(pages[0])
    assert tuple(args) == MOUNT_SETTINGS_KEYS


def test_unwrapped_fragment_uses_initialize_js():
    block = workbench_block()
    with chat_settings():
        frag = block.student_view({})
    assert frag.js_init_fn == "IbalXBlock"
    assert frag.json_init_args["widget_url"] == "https://chat.local.openedx.io/static/widget/0.1.0/ibal_widget.js"
    assert frag.json_init_args["ws_url"] == "wss://chat.local.openedx.io/ws/chat/"


@pytest.mark.parametrize(
    ("bucket", "ws_url", "widget_url"),
    [
        (
            {"GATEWAY_URL": "http://127.0.0.1:8080/"},
            "ws://127.0.0.1:8080/ws/chat/",
            "http://127.0.0.1:8080/static/widget/0.1.0/ibal_widget.js",
        ),
        (
            {"GATEWAY_URL": "  https://example.org/ibal//  "},
            "wss://example.org/ibal/ws/chat/",
            "https://example.org/ibal/static/widget/0.1.0/ibal_widget.js",
        ),
        (
            {"GATEWAY_URL": "HTTPS://Chat.Example.org", "WS_URL": "wss://ws.example.org/ws/chat/"},
            "wss://ws.example.org/ws/chat/",
            "https://Chat.Example.org/static/widget/0.1.0/ibal_widget.js",
        ),
        (
            {"GATEWAY_URL": GATEWAY_URL, "WIDGET_VERSION": "0.2.0-rc.1", "WS_URL": ""},
            "wss://chat.local.openedx.io/ws/chat/",
            "https://chat.local.openedx.io/static/widget/0.2.0-rc.1/ibal_widget.js",
        ),
    ],
)
def test_urls_are_derived_from_settings(bucket, ws_url, widget_url):
    block = workbench_block()
    with override_settings(XBLOCK_SETTINGS={"IbalXBlock": chat_bucket(**bucket)}):
        args = block.student_view({}).json_init_args
    assert args["ws_url"] == ws_url
    assert args["widget_url"] == widget_url
    assert args["gateway_url"] == widget_url.split("/static/widget/")[0]


def test_course_content_cannot_override_the_gateway():
    # Attributes that look like settings are not fields: the XML parser ignores them.
    block = workbench_block(
        '<ibalxblock GATEWAY_URL="https://evil.example" gateway_url="https://evil.example" '
        'ws_url="wss://evil.example/ws/chat/" widget_url="https://evil.example/x.js" WIDGET_VERSION="9.9.9" '
        'welcome_message="https://evil.example"/>'
    )
    assert set(IbalXBlock.fields) & {"gateway_url", "ws_url", "widget_url", "GATEWAY_URL", "WS_URL"} == set()
    with chat_settings():
        args = block.student_view({}).json_init_args
    assert args["gateway_url"] == GATEWAY_URL
    assert args["ws_url"] == "wss://chat.local.openedx.io/ws/chat/"
    assert args["widget_url"] == "https://chat.local.openedx.io/static/widget/0.1.0/ibal_widget.js"
    assert args["welcome_message"] == "https://evil.example"  # plain content, used as text only


def test_content_fields_never_reach_the_urls():
    # Even with the whole bucket set, only XBLOCK_SETTINGS decides; fields are content.
    block = workbench_block('<ibalxblock display_name="Room" assistant_instructions="Use https://evil.example"/>')
    with chat_settings(GATEWAY_URL="https://gw.example.com"):
        args = block.student_view({}).json_init_args
    assert "evil" not in json.dumps(args)  # the instructions travel only inside the signed ticket
    assert args["gateway_url"] == "https://gw.example.com"
    assert args["display_name"] == "Room"


def _assert_no_chat(frag):
    body = frag.body_html()
    assert frag.js_init_fn is None
    assert "xblock_json_init_args" not in body
    assert "ibal-xblock-mount" not in body
    assert js_texts(frag) == []
    return body


@pytest.mark.parametrize("bucket", [{}, {"GATEWAY_URL": ""}, {"GATEWAY_URL": None}, {"WS_URL": "wss://x.example/ws/"}])
def test_missing_gateway_url_learner_sees_neutral_message(bucket):
    block = workbench_block()
    with gateway_settings(**bucket):
        body = _assert_no_chat(block.render("student_view", {}))
    assert NEUTRAL in body
    assert "XBLOCK_SETTINGS" not in body
    assert "GATEWAY_URL" not in body


def test_missing_xblock_settings_entirely():
    block = workbench_block()
    with override_settings():
        del django_settings.XBLOCK_SETTINGS
        body = _assert_no_chat(block.render("student_view", {}))
    assert NEUTRAL in body


def test_missing_gateway_url_staff_sees_setting_name_runtime_flag():
    block = workbench_block()
    block.runtime.user_is_staff = True
    with gateway_settings():
        body = _assert_no_chat(block.render("student_view", {}))
    assert html.escape(STAFF_SETTING, quote=True) in body
    assert "is missing" in body
    assert NEUTRAL not in body


def test_missing_gateway_url_staff_sees_setting_name_user_service():
    block = workbench_block()
    user = block.runtime.service(block, "user").get_current_user()
    user.opt_attrs["edx-platform.user_is_staff"] = True
    with gateway_settings():
        body = _assert_no_chat(block.student_view({}))
    assert html.escape(STAFF_SETTING, quote=True) in body


@pytest.mark.parametrize(
    ("bucket", "key", "fragment"),
    [
        ({"GATEWAY_URL": "chat.local.openedx.io"}, "GATEWAY_URL", "must be an absolute URL"),
        ({"GATEWAY_URL": "ftp://chat.local.openedx.io"}, "GATEWAY_URL", "must be an absolute URL"),
        ({"GATEWAY_URL": "https://user:secret@chat.example.com"}, "GATEWAY_URL", "credentials"),
        ({"GATEWAY_URL": "https://chat.example.com/?a=1"}, "GATEWAY_URL", "query string"),
        ({"GATEWAY_URL": "https://chat.example.com:99999"}, "GATEWAY_URL", "not a valid URL"),
        ({"GATEWAY_URL": 42}, "GATEWAY_URL", "must be a string"),
        ({"GATEWAY_URL": GATEWAY_URL, "WS_URL": "https://chat.example.com/ws/chat/"}, "WS_URL", "ws://"),
        ({"GATEWAY_URL": GATEWAY_URL, "WIDGET_VERSION": "../../evil"}, "WIDGET_VERSION", "must be a version"),
    ],
)
def test_invalid_settings_staff_message_names_the_key(bucket, key, fragment):
    block = workbench_block()
    block.runtime.user_is_staff = True
    with override_settings(XBLOCK_SETTINGS={"IbalXBlock": bucket}):
        body = _assert_no_chat(block.student_view({}))
    assert html.escape(f'XBLOCK_SETTINGS["IbalXBlock"]["{key}"]', quote=True) in body
    assert html.escape(fragment, quote=True) in body


def test_invalid_settings_learner_sees_neutral_message():
    block = workbench_block()
    with gateway_settings(GATEWAY_URL="javascript:alert(1)"):
        body = _assert_no_chat(block.student_view({}))
    assert NEUTRAL in body
    assert "javascript" not in body


def test_bucket_that_is_not_a_dict():
    block = workbench_block()
    block.runtime.user_is_staff = True
    with override_settings(XBLOCK_SETTINGS={"IbalXBlock": "https://chat.example.com"}):
        body = _assert_no_chat(block.student_view({}))
    assert html.escape('XBLOCK_SETTINGS["IbalXBlock"] must be a dict', quote=True) in body


def test_author_strings_are_escaped_in_html():
    block = workbench_block()
    block.display_name = '<img src=x onerror="alert(1)">'
    with chat_settings():
        body = block.student_view({}).body_html()
        author = block.author_view({}).body_html()
    assert "<img" not in body and "<img" not in author
    assert "&lt;img" in body and "&lt;img" in author
    # The JSON settings carry the raw value (the widget inserts it as text).
    with chat_settings():
        assert block.student_view({}).json_init_args["display_name"] == '<img src=x onerror="alert(1)">'


def test_custom_fields_are_passed_to_the_widget():
    block = workbench_block(
        '<ibalxblock display_name="Ask the assistant" welcome_message="Hi there" '
        'assistant_instructions="Focus on unit 3."/>'
    )
    with chat_settings():
        args = block.student_view({}).json_init_args
    assert args["display_name"] == "Ask the assistant"
    assert args["welcome_message"] == "Hi there"
    assert "assistant_instructions" not in args
    assert "Focus on unit 3." not in json.dumps(args)


@pytest.mark.parametrize("sign_in", ["popup", "lms"])
def test_sign_in_mode_reaches_the_widget(sign_in):
    block = workbench_block()
    with chat_settings(SIGN_IN=sign_in):
        args = block.student_view({}).json_init_args
    assert args["sign_in"] == sign_in
    assert args["ticket_handler"] == "chat_ticket"
    # The signing key stays on the server.
    assert "BEGIN" not in json.dumps(args)


# --- chat ticket settings: the chat does not start without a usable signing key ---

KEY_SETTING = 'XBLOCK_SETTINGS["IbalXBlock"]["TICKET_PRIVATE_KEY"]'
_SMALL_KEY_PEM, _ = rsa_pem(1024)


@pytest.mark.parametrize(
    ("overrides", "key", "fragment"),
    [
        ({"TICKET_PRIVATE_KEY": None}, "TICKET_PRIVATE_KEY", "is missing"),
        ({"TICKET_PRIVATE_KEY": "not a key"}, "TICKET_PRIVATE_KEY", "is not a PEM private key"),
        ({"TICKET_PRIVATE_KEY": _SMALL_KEY_PEM}, "TICKET_PRIVATE_KEY", "is a 1024-bit RSA key"),
        ({"TICKET_ISSUER": None}, "TICKET_ISSUER", "is missing"),
        ({"TICKET_TTL": 301}, "TICKET_TTL", "between 30 and 300"),
        ({"SIGN_IN": "oauth"}, "SIGN_IN", 'must be "popup" or "lms"'),
    ],
)
def test_ticket_settings_staff_message_names_the_key(overrides, key, fragment, caplog):
    block = workbench_block()
    block.runtime.user_is_staff = True
    with caplog.at_level(logging.WARNING, logger="ibal_xblock"), chat_settings(**overrides):
        body = _assert_no_chat(block.student_view({}))
    assert html.escape(f'XBLOCK_SETTINGS["IbalXBlock"]["{key}"]', quote=True) in body
    assert html.escape(fragment, quote=True) in body
    [record] = [r for r in caplog.records if r.name.startswith("ibal_xblock")]
    assert record.levelno == logging.WARNING
    assert f'["{key}"]' in record.getMessage()
    for pem in (TICKET_PRIVATE_KEY, _SMALL_KEY_PEM):
        assert pem.splitlines()[1] not in body + record.getMessage()


def test_missing_ticket_key_learner_sees_neutral_message():
    block = workbench_block()
    with chat_settings(TICKET_PRIVATE_KEY=None):
        body = _assert_no_chat(block.student_view({}))
    assert NEUTRAL in body
    assert "TICKET_PRIVATE_KEY" not in body


def test_ticket_issuer_defaults_to_the_lms_root_url():
    block = workbench_block()
    with chat_settings(TICKET_ISSUER=None), override_settings(LMS_ROOT_URL="https://lms.example.org"):
        assert block.student_view({}).js_init_fn == "IbalXBlock"


# --- a platform-like runtime (opaque keys, user service opt_attrs), outside the workbench ---

USAGE = "block-v1:OpenedX+DemoX+2025+type@ibalxblock+block@0123456789abcdef"
COURSE = "course-v1:OpenedX+DemoX+2025"


def test_platform_runtime_course_id_from_usage_key_context_key():
    block = platform_block(
        {"IbalXBlock": chat_bucket()},
        FakeUsageKey(USAGE, COURSE),
        opt_attrs={"edx-platform.user_preferences": {"pref-lang": "fr"}},
    )
    args = block.student_view({}).json_init_args
    assert args["course_id"] == COURSE
    assert args["usage_id"] == USAGE
    assert args["lang"] == "fr"
    assert args["widget_url"] == f"{GATEWAY_URL}/static/widget/0.1.0/ibal_widget.js"


def test_platform_runtime_course_id_from_runtime_and_default_language():
    block = platform_block({"IbalXBlock": chat_bucket()}, "plain-usage-id", course_id=COURSE)
    args = block.student_view({}).json_init_args
    assert args["course_id"] == COURSE
    assert args["usage_id"] == "plain-usage-id"
    assert args["lang"] == "en"  # NullI18nService does not expose a language


def test_platform_runtime_without_course_and_bad_language():
    block = platform_block(
        {"IbalXBlock": chat_bucket()},
        "plain-usage-id",
        opt_attrs={"edx-platform.user_preferences": {"pref-lang": "<script>"}},
    )
    args = block.student_view({}).json_init_args
    assert args["course_id"] == ""
    assert args["lang"] == "en"


def test_platform_runtime_staff_from_opt_attrs():
    usage = FakeUsageKey(USAGE, COURSE)
    staff = platform_block({}, usage, opt_attrs={"edx-platform.user_is_staff": True}).student_view({})
    learner = platform_block({}, usage, opt_attrs={"edx-platform.user_is_staff": False}).student_view({})
    global_staff = platform_block({}, usage, opt_attrs={"edx-platform.user_is_global_staff": True}).student_view({})
    assert html.escape(STAFF_SETTING, quote=True) in staff.body_html()
    assert html.escape(STAFF_SETTING, quote=True) in global_staff.body_html()
    assert NEUTRAL in learner.body_html()
    assert staff.js_init_fn is None and learner.js_init_fn is None


@pytest.mark.parametrize(
    "served_at",
    [
        # The LMS's xblock_resource view (when it does not use the static files pipeline).
        "/xblock/resource/ibalxblock/public/relay.html",
        # The LMS with the static files pipeline: collected, with a content hash.
        "/static/xblock/resources/ibal_xblock/public/relay.4f2a9c0d1e7b.html",
    ],
)
def test_auth_relay_url_is_whatever_the_runtime_serves_relay_html_at(served_at, monkeypatch):
    block = platform_block({"IbalXBlock": chat_bucket()}, FakeUsageKey(USAGE, COURSE))
    asked = []

    def local_resource_url(blk, uri):
        asked.append((blk is block, uri))
        return served_at

    monkeypatch.setattr(block.runtime, "local_resource_url", local_resource_url)
    args = block.student_view({}).json_init_args
    assert args["auth_relay_url"] == served_at
    assert asked == [(True, "public/relay.html")]


def test_auth_relay_url_is_empty_when_the_runtime_cannot_serve_resources(monkeypatch, caplog):
    block = platform_block({"IbalXBlock": chat_bucket()}, FakeUsageKey(USAGE, COURSE))

    def local_resource_url(blk, uri):
        raise NotImplementedError("no local resources here")

    monkeypatch.setattr(block.runtime, "local_resource_url", local_resource_url)
    with caplog.at_level(logging.WARNING, logger="ibal_xblock.ibal_xblock"):
        args = block.student_view({}).json_init_args
    # The chat still starts: only the relay (the fallback for a severed popup) is missing.
    assert args["auth_relay_url"] == ""
    assert args["widget_url"] == f"{GATEWAY_URL}/static/widget/0.1.0/ibal_widget.js"
    assert "has no URL for its sign-in relay page (NotImplementedError)" in caplog.text


# --- the course team's controls: mode and starters reach the widget; nothing the assistant is told does ---


def test_mode_and_starters_reach_the_widget():
    block = workbench_block('<ibalxblock mode="room" starters="What is ATP?&#10;&#10;  Why oxygen?  "/>')
    with chat_settings():
        args = block.student_view({}).json_init_args
    assert args["mode"] == "room"
    assert args["starters"] == ["What is ATP?", "Why oxygen?"]


def test_the_widget_never_gets_the_unit_instructions_or_style_prompt():
    block = workbench_block(
        """<vertical_demo>
            <html_demo><p>Unit text: chlorophyll absorbs light.</p></html_demo>
            <ibalxblock assistant_instructions="Secret instructions." style_prompt="Secret style prompt."
                disclosure="Block disclosure." tutor_style="direct" starters="Shown starter"/>
        </vertical_demo>"""
    )
    chat = block.get_children()[1]
    with chat_settings(DISCLOSURE_TEXT="Operator disclosure."):
        args = chat.student_view({}).json_init_args
    dumped = json.dumps(args)
    for secret in ("chlorophyll", "Secret instructions", "Secret style prompt", "Guide the learner", "direct"):
        assert secret not in dumped, secret
    assert set(args) == set(MOUNT_SETTINGS_KEYS)
    assert {"unit", "instructions", "style_prompt", "tutor_style", "exam", "course_title"}.isdisjoint(args)
    assert args["starters"] == ["Shown starter"]


# --- course staff: the "Course chat insights" button (docs/instructor-insights.md); learners never get it ---

INSIGHTS_BUTTON = '<button type="button" class="ibal-xblock-insights-button"'


def test_staff_see_the_course_chat_insights_button_below_the_chat():
    block = workbench_block()
    block.runtime.user_is_staff = True
    with chat_settings():
        frag = block.render("student_view", {})
    body = frag.body_html()
    assert body.count(INSIGHTS_BUTTON) == 1
    # Below the chat's mount point, a real button whose name says it opens a new tab.
    assert body.index('class="ibal-xblock-mount"') < body.index(INSIGHTS_BUTTON)
    assert (
        '>Course chat insights<span class="ibal-xblock-visually-hidden"> (opens in a new tab)</span></button>'
    ) in body
    assert 'data-insights-error="The course chat insights could not be opened. Please try again."' in body
    assert '<span class="ibal-xblock-insights-message" role="alert"></span>' in body
    assert any(".ibal-xblock-visually-hidden" in css for css in css_texts(frag))
    # The script posts to the gateway named in the mount settings, which are the same as a learner's.
    [args] = init_args_from_html(body)
    assert tuple(args) == MOUNT_SETTINGS_KEYS
    assert args["gateway_url"] == GATEWAY_URL


def test_learners_never_see_the_course_chat_insights_button():
    block = workbench_block()
    with chat_settings():
        body = block.render("student_view", {}).body_html()
    assert "ibal-xblock-mount" in body
    for text in ("ibal-xblock-insights", "Course chat insights", "instructor", "<button"):
        assert text not in body, text


@pytest.mark.parametrize(
    ("opt_attrs", "shown"),
    [
        ({"edx-platform.user_is_staff": True}, True),
        ({"edx-platform.user_is_global_staff": True}, True),
        ({"edx-platform.user_is_staff": False, "edx-platform.user_role": "student"}, False),
        ({}, False),
    ],
)
def test_platform_runtime_insights_button_for_course_and_global_staff_only(opt_attrs, shown):
    block = platform_block({"IbalXBlock": chat_bucket()}, FakeUsageKey(USAGE, COURSE), opt_attrs=opt_attrs)
    body = block.student_view({}).body_html()
    assert "ibal-xblock-mount" in body
    assert (INSIGHTS_BUTTON in body) is shown


def test_no_insights_button_when_the_chat_is_not_configured():
    # Staff then see what to configure; no script runs, so there is no button either.
    block = workbench_block()
    block.runtime.user_is_staff = True
    with gateway_settings():
        body = _assert_no_chat(block.render("student_view", {}))
    assert "ibal-xblock-insights" not in body


def test_insights_button_texts_are_translated_and_escaped(monkeypatch):
    translations = {
        "Course chat insights": 'Statistiques <b onclick="x()">du chat</b>',
        "(opens in a new tab)": "(s'ouvre dans un nouvel onglet)",
        "The course chat insights could not be opened. Please try again.": 'Échec "<img src=x>"',
    }
    block = workbench_block()
    block.runtime.user_is_staff = True
    monkeypatch.setattr(block, "ugettext", lambda text: translations.get(text, text), raising=False)
    with chat_settings():
        body = block.student_view({}).body_html()
    assert "<b " not in body and "<img" not in body
    assert ">Statistiques &lt;b onclick=&quot;x()&quot;&gt;du chat&lt;/b&gt;<span" in body
    assert "> (s&#x27;ouvre dans un nouvel onglet)</span>" in body
    assert 'data-insights-error="Échec &quot;&lt;img src=x&gt;&quot;"' in body
