"""The block inside the xblock-sdk workbench, through Django's test client and the workbench's URLs."""

import json

import pytest
from django.test import Client, override_settings
from workbench.scenarios import get_scenarios

from ibal_xblock import IbalXBlock

from .helpers import GATEWAY_URL, init_args_from_html

SETTINGS = {"IbalXBlock": {"GATEWAY_URL": GATEWAY_URL}}


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


def test_author_view_over_http(client):
    page = client.get("/scenario/ibalxblock.0/author_view/").content.decode()
    assert "IBAL chat: learners see the chat here" in page
