"""The sign-in relay page (ibal_xblock/public/relay.js), run in Node.js against a fake window.

The gateway sends its sign-in popup to relay.html, with the result in the fragment, when the course
page's opener policy has cut the popup off from it; the relay hands the result to the widget over
a BroadcastChannel. Node.js is required: these tests fail, rather than skip, without it.
"""

import json
import re
from pathlib import Path
from urllib.parse import quote

import pytest

from .js_runner import run_harness

PUBLIC = Path(__file__).resolve().parent.parent / "ibal_xblock" / "public"

RELAY_PATH = "/xblock/resource/ibalxblock/public/relay.html"
# Stand-ins for the gateway's tokens: none of them may reach the console.
ACCESS_TOKEN = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlLWFjY2Vzcw"
REFRESH_TOKEN = "rt_7f3c9a1e5b2d4c6e8f0a1b2c3d4e5f60"
SUCCESS = {
    "type": "ibal:auth",
    "nonce": "n-6b1f0c2a9d",
    "access_token": ACCESS_TOKEN,
    "expires_in": 900,
    "refresh_token": REFRESH_TOKEN,
    "username": "alice",
}


def fragment(result) -> str:
    """What the gateway's callback page appends to the relay URL."""
    text = result if isinstance(result, str) else json.dumps(result)
    return "#ibal-auth=" + quote(text, safe="")


def run(**options):
    return run_harness("relay_harness.mjs", options)


def console_text(outcome) -> str:
    return "\n".join(line["text"] for line in outcome["logs"])


def assert_same_result(posted, expected):
    """Compares two sign-in results without echoing their tokens on failure."""
    differing = sorted(k for k in set(posted) | set(expected) if posted.get(k) != expected.get(k))
    assert not differing, f"the posted result differs in {differing}"


def tokens_in(text) -> list[str]:
    """Which stand-in tokens (or recognisable parts of them) the text shows, by name."""
    parts = {"access token": ACCESS_TOKEN, "refresh token": REFRESH_TOKEN, "JWT header": "eyJ", "refresh prefix": "rt_"}
    return [name for name, part in parts.items() if part in text]


def assert_prefixed(outcome):
    assert outcome["logs"], "expected console output"
    for line in outcome["logs"]:
        assert line["text"].startswith("[IbalXBlock] "), line["level"]


def test_a_result_is_posted_as_is_and_the_fragment_cleared():
    outcome = run(hash=fragment(SUCCESS), search="?lang=fr")
    # Exactly the result, once, on the channel the widget listens to.
    assert outcome["channels"] == ["ibal-auth"]
    assert [post["channel"] for post in outcome["posted"]] == ["ibal-auth"]
    assert_same_result(outcome["posted"][0]["message"], SUCCESS)
    # The fragment left the address bar (and so the history entry) before the result went out.
    assert outcome["replaced"] == [{"state": None, "title": "", "url": RELAY_PATH + "?lang=fr"}]
    assert outcome["posted"][0]["hashAtPost"] == ""
    assert outcome["locationUrl"] == RELAY_PATH + "?lang=fr"
    assert outcome["status"] == "You are signed in. You can close this window."
    assert outcome["closed"] is True
    assert_prefixed(outcome)
    assert "[IbalXBlock] Sign-in result relayed to the course page" in console_text(outcome)


def test_tokens_never_reach_the_console():
    outcome = run(hash=fragment(SUCCESS))
    logged = console_text(outcome)
    # Not the tokens, nor any recognisable part of them (the widget prints at most a short
    # prefix; the relay none), nor the nonce.
    assert not tokens_in(logged)
    assert SUCCESS["nonce"] not in logged


@pytest.mark.parametrize(
    "hash_",
    [
        "",
        "#",
        "#section-2",
        "#ibal-auth",
        "#ibal-auth=",
        "#ibal-auth=%7Bnot%20json",
        "#ibal-auth=%E0%A4%A",  # not decodable
        fragment([SUCCESS]),
        fragment("null"),
        fragment({**SUCCESS, "type": "ibal:other"}),
        fragment({key: value for key, value in SUCCESS.items() if key != "nonce"}),
        fragment({**SUCCESS, "nonce": ""}),
        fragment({**SUCCESS, "nonce": 42}),
        "#other=1" + fragment(SUCCESS),
    ],
)
def test_anything_else_posts_nothing(hash_):
    outcome = run(hash=hash_)
    assert outcome["posted"] == []
    assert outcome["channels"] == []
    assert outcome["status"] == "Nothing to do here."
    assert outcome["closed"] is False
    assert_prefixed(outcome)
    assert not tokens_in(console_text(outcome))
    # A fragment meant for the relay leaves the address bar even when it is malformed.
    assert ("ibal-auth=" in outcome["locationUrl"]) is (hash_.startswith("#other="))


def test_an_error_result_is_relayed_and_its_message_shown_as_text():
    error = {
        "type": "ibal:auth-error",
        "nonce": "n-41c7",
        "code": "access_denied",
        "message": '<img src=x onerror="alert(1)"> The LMS did not sign you in (access_denied).',
    }
    outcome = run(hash=fragment(error))
    assert [post["message"] for post in outcome["posted"]] == [error]
    assert outcome["status"] == "Sign-in failed: " + error["message"]
    assert outcome["htmlWrites"] == []  # set as text, never as markup
    assert outcome["locationUrl"] == RELAY_PATH
    assert outcome["closed"] is True
    assert_prefixed(outcome)
    assert "[IbalXBlock] Sign-in error relayed to the course page (access_denied)" in console_text(outcome)


def test_an_error_code_that_is_not_a_plain_code_is_not_logged():
    error = {"type": "ibal:auth-error", "nonce": "n-1", "code": "x<script>", "message": "No."}
    outcome = run(hash=fragment(error))
    assert "<script>" not in console_text(outcome)
    assert outcome["status"] == "Sign-in failed: No."


def test_without_broadcast_channel_nothing_is_posted_and_the_user_is_told():
    outcome = run(hash=fragment(SUCCESS), no_broadcast_channel=True)
    assert outcome["posted"] == []
    assert outcome["status"].startswith("Sign-in failed: ")
    assert outcome["locationUrl"] == RELAY_PATH
    assert outcome["closed"] is False
    assert not tokens_in(console_text(outcome))


def test_the_result_is_still_relayed_when_the_history_cannot_be_rewritten():
    outcome = run(hash=fragment(SUCCESS), replace_state_throws=True)
    assert len(outcome["posted"]) == 1
    assert_same_result(outcome["posted"][0]["message"], SUCCESS)
    assert not tokens_in(console_text(outcome))


def test_relay_html_is_a_static_page_that_loads_relay_js():
    page = (PUBLIC / "relay.html").read_text(encoding="utf-8")
    assert "<title>Signing in…</title>" in page
    assert '<meta charset="utf-8">' in page
    assert 'id="ibal-relay-status"' in page
    # One script, external and relative (it loads next to the page, whatever the URL prefix), no
    # inline code, no resource from anywhere else.
    markup = re.sub(r"<!--.*?-->", "", page, flags=re.S)
    assert re.findall(r"<script[^>]*>.*?</script>", markup, flags=re.S) == ['<script src="relay.js"></script>']
    for attribute in ("href=", "http:", "https:", "//", "style", "onload", "onerror", "<link", "<img"):
        assert attribute not in markup, attribute
