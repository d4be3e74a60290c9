"""The block's JavaScript (static/js/src/ibal_xblock.js), run in Node.js against a small fake DOM.

Fake widget modules in tests/js stand in for the wasm-bindgen output. Node.js is required: these
tests fail, rather than skip, without it.
"""

import json

import pytest

from ibal_xblock.ibal_xblock import MOUNT_SETTINGS_KEYS

from .js_runner import JS_DIR, run_harness


def run(**options):
    return run_harness("harness.mjs", options)


def widget(name):
    return (JS_DIR / name).as_uri()


HANDLER_URL = "/courses/course-v1:Org+Course+Run/xblock/block-v1:1/handler/"
EVENT_URL = HANDLER_URL + "publish_event"


def calls_to(outcome, handler):
    """The fetch() calls to one of the block's handlers."""
    return [call for call in outcome["fetchCalls"] if call["url"] == HANDLER_URL + handler]


def event_bodies(outcome):
    """The JSON bodies POSTed to the publish_event handler, in order."""
    return [json.loads(call["init"]["body"]) for call in calls_to(outcome, "publish_event")]


def assert_prefixed(outcome):
    assert outcome["logs"], "expected console output"
    for line in outcome["logs"]:
        assert line["text"].startswith("[IbalXBlock] "), line


def test_initializer_takes_three_arguments():
    # The XBlock JS runtimes only pass the initialize_js JSON to initialisers of arity 3.
    assert run(widget_url=widget("fake_widget_ok.mjs"))["arity"] == 3


@pytest.mark.parametrize("jquery", [False, True])
def test_imports_inits_and_mounts_the_widget(jquery):
    outcome = run(widget_url=widget("fake_widget_ok.mjs"), jquery=jquery, args={"lang": "fr"})
    assert outcome["calls"] == ["init", "mount"]
    assert outcome["mountedOnMountPoint"] is True
    assert outcome["state"] == "mounted"
    assert outcome["children"] == []  # the "Loading" placeholder is removed before mount()
    settings = outcome["mountSettings"]
    assert settings["widget_url"] == widget("fake_widget_ok.mjs")
    assert settings["ws_url"] == "wss://chat.example.com/ws/chat/"
    assert settings["lang"] == "fr"
    assert settings["sign_in"] == "popup"
    assert set(outcome["mountSettingsKeys"]) == {*MOUNT_SETTINGS_KEYS, "get_ticket", "track"}
    assert settings["mode"] == "both"
    assert settings["starters"] == ["What is ATP?", "Why is oxygen released?"]
    assert settings["auth_relay_url"] == "/xblock/resource/ibalxblock/public/relay.html"
    assert outcome["getTicketType"] == "function"
    assert outcome["trackType"] == "function"
    assert calls_to(outcome, "chat_ticket") == []  # the widget decides when it needs a ticket
    # Once mounted, the chat reports that it was opened, and nothing else.
    assert event_bodies(outcome) == [{"event_type": "ibal.chat.opened"}]
    assert len(outcome["fetchCalls"]) == 1
    assert outcome["settingsIsCopy"] is True
    assert_prefixed(outcome)
    assert outcome["logs"][0]["text"].startswith("[IbalXBlock] Initializing")
    assert any("mounted" in line["text"] for line in outcome["logs"])


def test_import_failure_logs_and_shows_text_message():
    outcome = run(widget_url=widget("does_not_exist.mjs"), load_error="<b>Chat down</b> & out")
    assert_prefixed(outcome)
    errors = [line["text"] for line in outcome["logs"] if line["level"] == "error"]
    assert len(errors) == 1
    assert errors[0].startswith("[IbalXBlock] Failed to load chat widget: ")
    assert outcome["state"] == "failed"
    assert outcome["calls"] == []
    # One paragraph whose *text* is the message: markup is not interpreted.
    assert outcome["children"] == [
        {
            "tag": "p",
            "className": "ibal-xblock-error",
            "role": "alert",
            "text": "<b>Chat down</b> & out",
            "childCount": 0,
        }
    ]


def test_default_message_when_the_template_gave_none():
    outcome = run(widget_url=widget("does_not_exist.mjs"))
    assert outcome["children"][0]["text"].startswith("The chat could not be loaded.")


@pytest.mark.parametrize(
    ("module", "message", "calls"),
    [
        ("fake_widget_no_mount.mjs", "[IbalXBlock] Failed to load chat widget: ", []),
        ("fake_widget_init_fails.mjs", "[IbalXBlock] Failed to load chat widget: WebAssembly", []),
        ("fake_widget_mount_throws.mjs", "[IbalXBlock] Failed to start chat widget: bad settings", ["init"]),
    ],
)
def test_bad_widget_modules(module, message, calls):
    outcome = run(widget_url=widget(module), load_error="Chat unavailable")
    assert_prefixed(outcome)
    errors = [line["text"] for line in outcome["logs"] if line["level"] == "error"]
    assert len(errors) == 1 and errors[0].startswith(message), errors
    assert outcome["state"] == "failed"
    assert outcome["calls"] == calls
    assert [child["text"] for child in outcome["children"]] == ["Chat unavailable"]
    assert outcome["fetchCalls"] == []  # not mounted: no "chat opened" event


def test_missing_widget_url():
    outcome = run(widget_url=None, load_error="Chat unavailable")
    errors = [line["text"] for line in outcome["logs"] if line["level"] == "error"]
    assert errors and errors[0].startswith("[IbalXBlock] Failed to load chat widget: ")
    assert [child["text"] for child in outcome["children"]] == ["Chat unavailable"]


def test_missing_mount_point_is_logged():
    outcome = run(widget_url=widget("fake_widget_ok.mjs"), no_mount=True)
    assert_prefixed(outcome)
    assert outcome["calls"] == []
    assert any(line["level"] == "error" and "Mount point" in line["text"] for line in outcome["logs"])


def test_second_initialisation_does_not_mount_twice():
    outcome = run(widget_url=widget("fake_widget_ok.mjs"), calls=2)
    assert outcome["calls"] == ["init", "mount"]
    assert any("already initialized" in line["text"] for line in outcome["logs"])


# ---------------------------------------------------------------- get_ticket()


@pytest.mark.parametrize("jquery", [False, True])
def test_get_ticket_posts_to_the_handler_with_the_csrf_token(jquery):
    outcome = run(
        widget_url=widget("fake_widget_ok.mjs"),
        jquery=jquery,
        get_ticket=True,
        cookie="sessionid=abc; csrftoken=Tok%2Ben123; other=1",
        fetch_response={"status": 200, "body": '{"ticket": "header.claims.signature", "expires_in": 120}'},
    )
    assert outcome["ticket"] == {"resolved": "header.claims.signature"}
    assert {"sameElement": True, "name": "chat_ticket"} in outcome["handlerUrlCalls"]
    [call] = calls_to(outcome, "chat_ticket")
    assert call["url"] == "/courses/course-v1:Org+Course+Run/xblock/block-v1:1/handler/chat_ticket"
    assert call["init"] == {
        "method": "POST",
        "credentials": "same-origin",
        "headers": {"Content-Type": "application/json", "X-CSRFToken": "Tok+en123"},
        "body": "{}",
    }
    assert_prefixed(outcome)
    texts = [line["text"] for line in outcome["logs"]]
    assert "[IbalXBlock] Chat ticket fetched (expires in 120 s)" in texts
    assert not any("header.claims.signature" in text or "signature" in text for text in texts)


def test_get_ticket_without_a_csrf_cookie_sends_no_csrf_header():
    outcome = run(widget_url=widget("fake_widget_ok.mjs"), get_ticket=True, cookie="sessionid=abc")
    assert outcome["ticket"] == {"resolved": "aaa.bbb.ccc"}
    [call] = calls_to(outcome, "chat_ticket")
    assert call["init"]["headers"] == {"Content-Type": "application/json"}


def test_get_ticket_uses_the_handler_named_in_the_settings():
    outcome = run(widget_url=widget("fake_widget_ok.mjs"), get_ticket=True, args={"ticket_handler": "other"})
    assert [call["name"] for call in outcome["handlerUrlCalls"]] == ["publish_event", "other"]
    assert len(calls_to(outcome, "other")) == 1


@pytest.mark.parametrize(
    ("status", "body", "message"),
    [
        (403, '{"error": "Sign in to use the chat."}', "Sign in to use the chat."),
        (503, '{"error": "The chat is not available right now."}', "The chat is not available right now."),
        (502, "<html>Bad gateway</html>", "HTTP 502"),
        (200, '{"expires_in": 300}', "the chat ticket response has no ticket"),
        (200, "<html>signed in?</html>", "the chat ticket response has no ticket"),
    ],
)
def test_get_ticket_rejects_with_the_servers_message(status, body, message):
    outcome = run(
        widget_url=widget("fake_widget_ok.mjs"),
        get_ticket=True,
        cookie="csrftoken=abc",
        fetch_response={"status": status, "body": body},
    )
    assert outcome["ticket"] == {"rejected": message}
    assert calls_to(outcome, "chat_ticket")[0]["init"]["headers"]["X-CSRFToken"] == "abc"
    assert outcome["state"] == "mounted"  # a refused ticket is the widget's to report, not a load failure
    errors = [line["text"] for line in outcome["logs"] if line["level"] == "error"]
    assert errors == [f"[IbalXBlock] Failed to get a chat ticket: {message}"]


def test_get_ticket_rejects_when_the_network_fails():
    outcome = run(widget_url=widget("fake_widget_ok.mjs"), get_ticket=True, fetch_error="Failed to fetch")
    assert outcome["ticket"] == {"rejected": "Failed to fetch"}


# ------------------------------------------------------------ analytics events


def test_chat_opened_is_sent_after_mount_with_the_csrf_token():
    outcome = run(widget_url=widget("fake_widget_ok.mjs"), cookie="csrftoken=Tok%2Ben123")
    assert outcome["state"] == "mounted"
    [call] = calls_to(outcome, "publish_event")
    assert call["init"] == {
        "method": "POST",
        "credentials": "same-origin",
        "headers": {"Content-Type": "application/json", "X-CSRFToken": "Tok+en123"},
        "body": '{"event_type":"ibal.chat.opened"}',
    }
    # Sent after the widget mounted, and logged as nothing but the mount.
    texts = [line["text"] for line in outcome["logs"]]
    assert texts[-1] == "[IbalXBlock] Chat widget mounted"
    assert not any(line["level"] != "log" for line in outcome["logs"])


def test_the_event_handler_named_in_the_settings_is_used():
    outcome = run(widget_url=widget("fake_widget_ok.mjs"), args={"event_handler": "events"})
    assert [call["name"] for call in outcome["handlerUrlCalls"]] == ["events"]
    assert json.loads(calls_to(outcome, "events")[0]["init"]["body"]) == {"event_type": "ibal.chat.opened"}


def test_a_refused_chat_opened_event_is_logged_and_does_not_fail_the_chat():
    outcome = run(
        widget_url=widget("fake_widget_ok.mjs"),
        event_response={"status": 403, "body": '{"error": "Sign in to use the chat."}'},
    )
    assert outcome["state"] == "mounted"
    assert outcome["children"] == []
    warnings = [line["text"] for line in outcome["logs"] if line["level"] == "warn"]
    assert warnings == ["[IbalXBlock] Failed to send analytics event ibal.chat.opened: Sign in to use the chat."]
    assert not [line for line in outcome["logs"] if line["level"] == "error"]


def test_track_posts_the_event_and_resolves_to_true():
    outcome = run(
        widget_url=widget("fake_widget_ok.mjs"),
        cookie="csrftoken=abc",
        track=[
            ["ibal.message.sent", {"length": 42, "conversation_messages": 3}],
            ["ibal.reply.rated", {"rating": "up", "has_comment": False}],
        ],
    )
    assert outcome["tracked"] == [{"resolved": True}, {"resolved": True}]
    assert event_bodies(outcome) == [
        {"event_type": "ibal.chat.opened"},
        {"event_type": "ibal.message.sent", "length": 42, "conversation_messages": 3},
        {"event_type": "ibal.reply.rated", "rating": "up", "has_comment": False},
    ]
    for call in calls_to(outcome, "publish_event"):
        assert call["init"]["headers"] == {"Content-Type": "application/json", "X-CSRFToken": "abc"}
        assert call["init"]["method"] == "POST" and call["init"]["credentials"] == "same-origin"


def test_track_cannot_override_the_event_type():
    outcome = run(
        widget_url=widget("fake_widget_ok.mjs"), track=[["ibal.message.sent", {"event_type": "other", "length": 1}]]
    )
    assert event_bodies(outcome)[1] == {"event_type": "ibal.message.sent", "length": 1}


@pytest.mark.parametrize(
    ("event_response", "event_fetch_error", "reason"),
    [
        ({"status": 400, "body": '{"error": "length is required."}'}, None, "length is required."),
        ({"status": 502, "body": "<html>Bad gateway</html>"}, None, "HTTP 502"),
        (None, "Failed to fetch", "Failed to fetch"),
    ],
)
def test_track_failures_are_logged_without_the_fields_and_never_thrown(event_response, event_fetch_error, reason):
    secret = "my secret question about photosynthesis"
    outcome = run(
        widget_url=widget("fake_widget_ok.mjs"),
        event_response=event_response,
        event_fetch_error=event_fetch_error,
        track=[["ibal.message.sent", {"length": 7, "note": secret}]],
    )
    assert outcome["tracked"] == [{"resolved": False}]
    assert_prefixed(outcome)
    warnings = [line["text"] for line in outcome["logs"] if line["level"] == "warn"]
    assert f"[IbalXBlock] Failed to send analytics event ibal.message.sent: {reason}" in warnings
    assert not any(secret in line["text"] for line in outcome["logs"])
    assert not any("7" in text for text in warnings)  # nor the length
    assert outcome["state"] == "mounted"


@pytest.mark.parametrize(
    ("event_type", "fields", "message"),
    [
        (None, {"length": 1}, "[IbalXBlock] Analytics event not sent: no event type"),
        ("", {"length": 1}, "[IbalXBlock] Analytics event not sent: no event type"),
        (
            "ibal.message.sent",
            "unserialisable",
            "[IbalXBlock] Analytics event ibal.message.sent not sent: its fields cannot be sent as JSON",
        ),
    ],
)
def test_track_refuses_what_it_cannot_send_without_a_request(event_type, fields, message):
    outcome = run(widget_url=widget("fake_widget_ok.mjs"), track=[[event_type, fields]])
    assert outcome["tracked"] == [{"resolved": False}]
    assert len(calls_to(outcome, "publish_event")) == 1  # the "chat opened" event only
    assert message in [line["text"] for line in outcome["logs"] if line["level"] == "warn"]


def test_track_without_fields_sends_the_event_type_alone():
    outcome = run(widget_url=widget("fake_widget_ok.mjs"), track=[["ibal.chat.opened", None]])
    assert outcome["tracked"] == [{"resolved": True}]
    assert event_bodies(outcome) == [{"event_type": "ibal.chat.opened"}, {"event_type": "ibal.chat.opened"}]


def test_track_never_throws_when_fetch_itself_throws():
    outcome = run(widget_url=widget("fake_widget_ok.mjs"), fetch_throws=True, track=[["ibal.chat.opened", {}]])
    assert outcome["tracked"] == [{"resolved": False}]
    assert outcome["state"] == "mounted"
    warnings = [line["text"] for line in outcome["logs"] if line["level"] == "warn"]
    assert warnings == [
        "[IbalXBlock] Failed to send analytics event ibal.chat.opened: fetch is not allowed here",
        "[IbalXBlock] Failed to send analytics event ibal.chat.opened: fetch is not allowed here",
    ]


# ------------------------------------------------- course staff: "Course chat insights"

TICKET = "header.claims.signature"
INSIGHTS_ERROR = "The course chat insights could not be opened. Please try again."


def insights_run(**options):
    options.setdefault("widget_url", widget("fake_widget_ok.mjs"))
    options.setdefault("fetch_response", {"status": 200, "body": json.dumps({"ticket": TICKET, "expires_in": 300})})
    return run(insights=True, **options)


def assert_ticket_never_logged(outcome):
    assert_prefixed(outcome)
    assert not any(TICKET in line["text"] or "signature" in line["text"] for line in outcome["logs"])


@pytest.mark.parametrize("jquery", [False, True])
def test_insights_click_fetches_a_ticket_and_posts_it_in_a_new_tab(jquery):
    outcome = insights_run(jquery=jquery, insights_clicks=1, cookie="csrftoken=abc")
    insights = outcome["insights"]
    assert insights["clicks"] == [{"resolved": True}]
    # A fresh ticket from the block's chat_ticket handler, behind the LMS session with the CSRF token.
    [call] = calls_to(outcome, "chat_ticket")
    assert call["init"]["method"] == "POST" and call["init"]["headers"]["X-CSRFToken"] == "abc"
    # One hidden form, posted to the gateway's entry in a new tab, with the ticket as its only field.
    assert insights["submitted"] == [
        {
            "attributes": {
                "method": "post",
                "action": "https://chat.example.com/instructor/enter",
                "target": "_blank",
                "rel": "noopener",
                "hidden": "",
            },
            "fields": [{"tag": "input", "attributes": {"type": "hidden", "name": "ticket", "value": TICKET}}],
            "inPage": True,
        }
    ]
    assert insights["formsLeft"] == 0  # removed once submitted
    assert insights["message"] == ""
    assert "aria-busy" not in insights["buttonAttributes"]
    assert "[IbalXBlock] Course chat insights opened in a new tab" in [line["text"] for line in outcome["logs"]]
    assert_ticket_never_logged(outcome)


def test_insights_without_a_click_fetch_nothing():
    outcome = insights_run()
    assert outcome["insights"]["listeners"] == 1
    assert calls_to(outcome, "chat_ticket") == []
    assert outcome["insights"]["submitted"] == []


def test_insights_action_is_the_gateway_url_without_a_trailing_slash():
    outcome = insights_run(insights_clicks=1, args={"gateway_url": "https://example.org/ibal/"})
    [form] = outcome["insights"]["submitted"]
    assert form["attributes"]["action"] == "https://example.org/ibal/instructor/enter"


@pytest.mark.parametrize(
    ("options", "reason"),
    [
        (
            {"fetch_response": {"status": 403, "body": '{"error": "Sign in to use the chat."}'}},
            "Sign in to use the chat.",
        ),
        ({"fetch_response": {"status": 502, "body": "<html>Bad gateway</html>"}}, "HTTP 502"),
        ({"fetch_response": {"status": 200, "body": '{"expires_in": 300}'}}, "the chat ticket response has no ticket"),
        ({"fetch_error": "Failed to fetch"}, "Failed to fetch"),
        ({"fetch_throws": True}, "fetch is not allowed here"),
    ],
)
def test_insights_failed_ticket_shows_the_message_and_logs_without_the_ticket(options, reason):
    outcome = insights_run(insights_clicks=1, insights_error="Could not open the insights.", **options)
    insights = outcome["insights"]
    assert insights["clicks"] == [{"resolved": False}]
    assert insights["submitted"] == []
    assert insights["formsLeft"] == 0
    assert insights["message"] == "Could not open the insights."
    assert "aria-busy" not in insights["buttonAttributes"]
    errors = [line["text"] for line in outcome["logs"] if line["level"] == "error"]
    assert f"[IbalXBlock] Course chat insights not opened: {reason}" in errors
    assert_ticket_never_logged(outcome)


def test_insights_default_message_when_the_template_gave_none():
    outcome = insights_run(insights_clicks=1, fetch_error="Failed to fetch")
    assert outcome["insights"]["message"] == INSIGHTS_ERROR


def test_insights_without_a_gateway_url_asks_for_no_ticket():
    outcome = insights_run(insights_clicks=1, args={"gateway_url": ""})
    assert outcome["insights"]["clicks"] == [{"resolved": False}]
    assert calls_to(outcome, "chat_ticket") == []
    assert outcome["insights"]["message"] == INSIGHTS_ERROR
    errors = [line["text"] for line in outcome["logs"] if line["level"] == "error"]
    assert "[IbalXBlock] Course chat insights not opened: no gateway_url in the block settings" in errors


def test_insights_double_click_opens_one_tab():
    outcome = insights_run(insights_clicks=2)
    assert outcome["insights"]["clicks"] == [{"resolved": True}, {"resolved": False}]
    assert len(calls_to(outcome, "chat_ticket")) == 1
    assert len(outcome["insights"]["submitted"]) == 1


@pytest.mark.parametrize(
    "options",
    [
        {"widget_url": widget("does_not_exist.mjs")},
        {"widget_url": None},
        {"widget_url": widget("fake_widget_mount_throws.mjs")},
        {"no_mount": True},
    ],
)
def test_insights_work_when_the_widget_does_not(options):
    outcome = insights_run(insights_clicks=1, **options)
    assert outcome["state"] != "mounted"
    assert outcome["insights"]["clicks"] == [{"resolved": True}]
    [form] = outcome["insights"]["submitted"]
    assert form["fields"][0]["attributes"]["value"] == TICKET
    assert_ticket_never_logged(outcome)


def test_insights_button_is_wired_once_when_the_block_is_initialised_twice():
    outcome = insights_run(calls=2, insights_clicks=1)
    assert outcome["insights"]["listeners"] == 1
    assert len(outcome["insights"]["submitted"]) == 1


def test_no_insights_button_no_insights():
    # Learners' pages have no button: the script neither fails nor asks for a ticket.
    outcome = run(widget_url=widget("fake_widget_ok.mjs"))
    assert outcome["insights"] is None
    assert outcome["state"] == "mounted"
    assert calls_to(outcome, "chat_ticket") == []
    assert not [line for line in outcome["logs"] if line["level"] == "error"]
