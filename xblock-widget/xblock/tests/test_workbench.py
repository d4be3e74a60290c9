"""The block inside the xblock-sdk workbench, through Django's test client and the workbench's URLs."""

import json
import os
import subprocess
import sys
from pathlib import Path

import jwt
import pytest
from django.test import Client, override_settings
from workbench.scenarios import get_scenarios

from ibal_xblock import IbalXBlock

from .helpers import TICKET_ISSUER, TICKET_PRIVATE_KEY, TICKET_PUBLIC_KEY, chat_bucket, init_args_from_html

SETTINGS = {"IbalXBlock": chat_bucket()}


@pytest.fixture(scope="module")
def client():
    return Client()


def test_all_workbench_scenarios_parse():
    scenarios = get_scenarios()  # parses every installed block's scenarios, failing loudly
    ours = {name: s for name, s in scenarios.items() if name.startswith("ibalxblock.")}
    assert len(ours) == len(IbalXBlock.workbench_scenarios()) >= 2
    xml = [s.xml for s in ours.values()]
    assert "<ibalxblock/>" in xml
    assert any("welcome_message=" in x for x in xml)


def test_index_lists_the_scenarios(client):
    response = client.get("/")
    assert response.status_code == 200
    page = response.content.decode()
    assert "IBAL Chat" in page
    assert "/scenario/ibalxblock.0/" in page


@override_settings(XBLOCK_SETTINGS=SETTINGS)
def test_scenario_page_has_the_mount_point_and_settings(client):
    response = client.get("/scenario/ibalxblock.0/")
    assert response.status_code == 200
    page = response.content.decode()
    assert 'class="ibal-xblock-mount"' in page
    assert "data-init='IbalXBlock'" in page
    assert "function IbalXBlock(runtime, element, args)" in page
    assert "/static/workbench/js/runtime/1.js" in page
    [args] = init_args_from_html(page)
    assert args["widget_url"] == "https://chat.local.openedx.io/static/widget/0.1.0/ibal_widget.js"
    assert args["ws_url"] == "wss://chat.local.openedx.io/ws/chat/"
    assert args["usage_id"] == get_scenarios()["ibalxblock.0"].usage_id
    assert args["welcome_message"] == "Click Start Chat to begin"
    assert args["sign_in"] == "popup"
    assert args["ticket_handler"] == "chat_ticket"
    # The page sets Django's CSRF cookie, which the JavaScript sends back when it asks for a ticket.
    assert "csrftoken" in response.cookies


@override_settings(XBLOCK_SETTINGS=SETTINGS)
def test_custom_welcome_scenario(client):
    page = client.get("/scenario/ibalxblock.1/").content.decode()
    [args] = init_args_from_html(page)
    assert args["welcome_message"] == "Hello! Ask me anything about this unit."
    assert args["display_name"] == "Ask the course assistant"


@override_settings(XBLOCK_SETTINGS=SETTINGS)
def test_two_blocks_in_one_unit_get_their_own_mount_points(client):
    page = client.get("/scenario/ibalxblock.2/").content.decode()
    assert page.count('class="ibal-xblock-mount"') == 2
    usage_ids = [a["usage_id"] for a in init_args_from_html(page) if "usage_id" in a]
    assert len(set(usage_ids)) == 2


@override_settings(XBLOCK_SETTINGS={"IbalXBlock": {}})
def test_scenario_page_without_settings_shows_the_neutral_message(client):
    page = client.get("/scenario/ibalxblock.0/").content.decode()
    assert "The chat is not available right now." in page
    assert 'class="ibal-xblock-mount"' not in page
    assert "data-init='IbalXBlock'" not in page


def test_studio_view_and_handler_over_http(client):
    page = client.get("/scenario/ibalxblock.0/studio_view/").content.decode()
    assert 'data-field-name="welcome_message"' in page

    usage_id = get_scenarios()["ibalxblock.0"].usage_id
    url = f"/handler/{usage_id}/studio_submit/?student=student_1"
    try:
        response = client.post(url, json.dumps({"welcome_message": "Saved over HTTP"}), content_type="application/json")
        assert response.status_code == 200, response.content
        with override_settings(XBLOCK_SETTINGS=SETTINGS):
            [args] = init_args_from_html(client.get("/scenario/ibalxblock.0/").content.decode())
        assert args["welcome_message"] == "Saved over HTTP"

        bad = client.post(url, json.dumps({"gateway_url": "https://evil.example"}), content_type="application/json")
        assert bad.status_code == 400
    finally:
        client.post(
            f"/handler/{usage_id}/submit_studio_edits/?student=student_1",
            json.dumps({"values": {}, "defaults": ["welcome_message"]}),
            content_type="application/json",
        )


@override_settings(XBLOCK_SETTINGS=SETTINGS)
@pytest.mark.parametrize("student", ["student_1", "alice"])
def test_chat_ticket_over_http_names_the_workbench_user(client, student):
    # The workbench's user service gives only its user id (?student=, default "student_1"): it is both
    # the ticket's preferred_username and, as the runtime's user id, its sub.
    usage_id = get_scenarios()["ibalxblock.0"].usage_id
    query = "" if student == "student_1" else f"?student={student}"
    response = client.post(f"/handler/{usage_id}/chat_ticket/{query}", "{}", content_type="application/json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["expires_in"] == 300
    claims = jwt.decode(
        body["ticket"], TICKET_PUBLIC_KEY, algorithms=["RS256"], audience="https://chat.local.openedx.io",
        issuer=TICKET_ISSUER,
    )
    assert claims["sub"] == student
    assert claims["preferred_username"] == student
    assert "user_id" not in claims
    assert claims["course_id"] == ""
    assert claims["usage_id"] == usage_id
    assert claims["role"] == "learner"


def test_chat_ticket_over_http_requires_post(client):
    usage_id = get_scenarios()["ibalxblock.0"].usage_id
    with override_settings(XBLOCK_SETTINGS=SETTINGS):
        assert client.get(f"/handler/{usage_id}/chat_ticket/").status_code == 405


def test_author_view_over_http(client):
    page = client.get("/scenario/ibalxblock.0/author_view/").content.decode()
    assert "IBAL chat: learners see the chat here" in page


def test_workbench_settings_read_the_environment(tmp_path):
    """What an end-to-end harness does: configure the workbench's block through environment variables."""
    environ = {name: value for name, value in os.environ.items() if name != "DJANGO_SETTINGS_MODULE"}
    environ.update(
        {
            "IBAL_WORKBENCH_VAR_DIR": str(tmp_path),
            "GATEWAY_URL": "http://127.0.0.1:8080",
            # One line with \n escapes, as a .env file would hold it.
            "TICKET_PRIVATE_KEY": TICKET_PRIVATE_KEY.replace("\n", "\\n"),
            "TICKET_KEY_ID": "e2e-key",
            "TICKET_ISSUER": "http://lms.test",
            "TICKET_TTL": "60",
            "SIGN_IN": "lms",
            "WS_URL": "",
        }
    )
    script = "import json; from tests import workbench_settings as s; print(json.dumps(s.XBLOCK_SETTINGS))"
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=Path(__file__).resolve().parent.parent,
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    bucket = json.loads(result.stdout)["IbalXBlock"]
    same_key = bucket.pop("TICKET_PRIVATE_KEY") == TICKET_PRIVATE_KEY  # compared apart: a diff would print it
    assert same_key, "the PEM key did not get its line breaks back"
    assert bucket == {
        "GATEWAY_URL": "http://127.0.0.1:8080",
        "TICKET_KEY_ID": "e2e-key",
        "TICKET_ISSUER": "http://lms.test",
        "TICKET_TTL": "60",
        "SIGN_IN": "lms",
    }
