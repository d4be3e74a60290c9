"""The block inside the xblock-sdk workbench, through Django's test client and the workbench's URLs."""

import json
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urljoin

import jwt
import pytest
from django.test import Client, override_settings
from django.utils import translation
from workbench.runtime import WorkbenchRuntime
from workbench.scenarios import get_scenarios

from ibal_xblock import IbalXBlock

from .helpers import (
    TICKET_ISSUER,
    TICKET_PRIVATE_KEY,
    TICKET_PUBLIC_KEY,
    call_handler,
    chat_bucket,
    init_args_from_html,
)

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
def test_the_relay_page_is_served_where_the_block_says(client):
    """The workbench serves public/relay.html (and the relay.js it loads, relative to it) at the
    URL the block hands the widget as auth_relay_url."""
    [args] = init_args_from_html(client.get("/scenario/ibalxblock.0/").content.decode())
    relay_url = args["auth_relay_url"]
    assert relay_url == "/resource/ibalxblock/public/relay.html"
    page = client.get(relay_url)
    assert page.status_code == 200
    assert page["Content-Type"].split(";")[0] == "text/html"
    html = page.content.decode("utf-8")
    assert "<title>Signing in…</title>" in html
    assert '<script src="relay.js"></script>' in html
    script = client.get(urljoin(relay_url, "relay.js"))
    assert script.status_code == 200
    assert script["Content-Type"].split(";")[0] in ("text/javascript", "application/javascript")
    assert b"new BroadcastChannel(CHANNEL)" in script.content


@pytest.mark.parametrize(
    "resource",
    ["static/js/src/ibal_xblock.js", "ibal_xblock.py", "public/../ibal_xblock.py", "public/missing.html"],
)
def test_the_workbench_serves_nothing_else_of_the_package(client, resource):
    assert client.get(f"/resource/ibalxblock/{resource}").status_code == 404


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
        body["ticket"],
        TICKET_PUBLIC_KEY,
        algorithms=["RS256"],
        audience="https://chat.local.openedx.io",
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
            "UNIT_CONTENT_MAX_CHARS": "4000",
            "DISCLOSURE_TEXT": "AI answers may be wrong.",
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
        "UNIT_CONTENT_MAX_CHARS": "4000",
        "DISCLOSURE_TEXT": "AI answers may be wrong.",
    }


# ------------------------------------------------------- units with content


def ticket_claims(client, usage_id, student="student_1"):
    query = "" if student == "student_1" else f"?student={student}"
    response = client.post(f"/handler/{usage_id}/chat_ticket/{query}", "{}", content_type="application/json")
    assert response.status_code == 200, response.content
    return jwt.decode(
        response.json()["ticket"],
        TICKET_PUBLIC_KEY,
        algorithms=["RS256"],
        audience="https://chat.local.openedx.io",
        issuer=TICKET_ISSUER,
    )


def chat_usage_ids(page):
    return [args["usage_id"] for args in init_args_from_html(page) if "ticket_handler" in args]


@override_settings(XBLOCK_SETTINGS=SETTINGS)
def test_unit_with_an_html_component_scenario(client):
    """ibalxblock.4: xblock-sdk's vertical_demo with an html_demo and the chat; the ticket holds the HTML's text."""
    assert get_scenarios()["ibalxblock.4"].description == "IBAL Chat in a unit with an HTML component"
    page = client.get("/scenario/ibalxblock.4/").content.decode()
    assert "Chlorophyll absorbs light and splits water" in page  # the HTML component, as the learner sees it
    [args] = [a for a in init_args_from_html(page) if "ticket_handler" in a]
    assert args["mode"] == "both"
    assert args["starters"] == ["What do the light reactions produce?", "Why is oxygen released?"]
    claims = ticket_claims(client, args["usage_id"])
    assert claims["unit"] == {
        "section": "",
        "subsection": "",
        "title": "",
        "text": "Text\nThe light reactions\n\nChlorophyll absorbs light and splits water, releasing oxygen.\n\n"
        "The energy is stored in ATP and NADPH for the Calvin cycle.",
        "truncated": False,
    }
    assert claims["course_title"] == ""
    assert claims["mode"] == "both"
    assert claims["starters"] == args["starters"]
    assert claims["exam"] is False


@override_settings(XBLOCK_SETTINGS=SETTINGS)
def test_course_unit_with_a_staff_only_component_scenario(client):
    """course.0: course OLX with a staff-only HTML component and a CAPA problem; a learner's ticket has the
    public text and the question, never the staff-only text nor the problem's answer, hint or solution."""
    scenario = get_scenarios()["course.0"]
    assert scenario.description == "IBAL Chat in a course unit with a staff-only HTML component"
    page = client.get("/scenario/course.0/").content.decode()
    # Rendered for the learner without the staff-only component (the page also lists the scenario's
    # source, escaped).
    assert "<p>Chlorophyll absorbs light" in page
    assert "<p>Staff only" not in page
    [usage_id] = chat_usage_ids(page)
    claims = ticket_claims(client, usage_id)
    assert claims["course_title"] == "IBAL Demo Course"
    unit = claims["unit"]
    assert (unit["section"], unit["subsection"], unit["title"]) == (
        "Week 1: Plants",
        "Photosynthesis",
        "The light reactions",
    )
    assert unit["text"] == (
        "Reading\nThe light reactions\n\nChlorophyll absorbs light & splits water, releasing oxygen.\n\n"
        f"Inside the thylakoid\n{ENGLISH_TRANSCRIPT}\n\n"
        "Check your understanding\nWhich gas do the light reactions release?\n\n- Carbon dioxide\n- Oxygen"
    )
    for absent in ("Staff only", "quiz answer is B", "Right: water", "The solution", "correct", "Les photons"):
        assert absent not in unit["text"], absent
    assert claims["exam"] is False


ENGLISH_TRANSCRIPT = "Photons excite electrons in photosystem two.\nWater is split to replace them."
FRENCH_TRANSCRIPT = "Les photons excitent les électrons du photosystème deux.\nL'eau est scindée pour les remplacer."


@override_settings(XBLOCK_SETTINGS=SETTINGS)
@pytest.mark.parametrize(
    ("language", "transcript"), [("fr", FRENCH_TRANSCRIPT), ("fr-ca", FRENCH_TRANSCRIPT), ("de", ENGLISH_TRANSCRIPT)]
)
def test_course_unit_video_transcript_in_the_learners_language(client, language, transcript):
    """course.0's video has an English and a French transcript: a learner gets theirs, else English (the
    workbench's i18n service is Django's translation module: its active language is the learner's)."""
    [usage_id] = chat_usage_ids(client.get("/scenario/course.0/").content.decode())
    with translation.override(language):
        claims = ticket_claims(client, usage_id)
    assert f"Inside the thylakoid\n{transcript}\n\nCheck your understanding" in claims["unit"]["text"]


def test_workbench_video_has_edx_platforms_transcript_api():
    """The stand-in answers as edx-platform's VideoBlock: get_transcripts_info() and
    get_transcript(transcripts, transcript_format, lang) → (content, filename, mimetype)."""
    video = find_block(WorkbenchRuntime("student_1").get_block(get_scenarios()["course.0"].usage_id), "video")
    info = video.get_transcripts_info()
    assert info == {"sub": "", "transcripts": {"en": "thylakoid-en.srt", "fr": "thylakoid-fr.srt"}}
    content, filename, mimetype = video.get_transcript(info, transcript_format="txt", lang="fr")
    assert (content.strip(), filename, mimetype) == (
        FRENCH_TRANSCRIPT,
        "fr_thylakoid-fr.txt",
        "text/plain; charset=utf-8",
    )
    assert video.get_transcript(info, transcript_format="txt")[0].strip() == ENGLISH_TRANSCRIPT
    for language, transcript_format in (("de", "txt"), ("fr", "srt")):
        with pytest.raises(LookupError):
            video.get_transcript(info, transcript_format=transcript_format, lang=language)
    # sub (the English transcript's id) is read first for English; empty file names are left out.
    video.sub, video.transcripts = "thylakoid-fr.srt", {"en": "", "fr": "thylakoid-fr.srt"}
    info = video.get_transcripts_info()
    assert info == {"sub": "thylakoid-fr.srt", "transcripts": {"fr": "thylakoid-fr.srt"}}
    assert video.get_transcript(info, transcript_format="txt", lang="en")[0].strip() == FRENCH_TRANSCRIPT


def test_course_staff_tickets_include_the_staff_only_component():
    runtime = WorkbenchRuntime("staff_1")
    chat = find_chat(runtime.get_block(get_scenarios()["course.0"].usage_id))
    chat.runtime.user_is_staff = True
    with override_settings(XBLOCK_SETTINGS=SETTINGS):
        status, body = call_handler(chat, "chat_ticket", {})
    assert status == 200, body
    claims = jwt.decode(body["ticket"], TICKET_PUBLIC_KEY, algorithms=["RS256"], options={"verify_aud": False})
    assert claims["role"] == "staff"
    assert "Notes for staff\nStaff only: the quiz answer is B." in claims["unit"]["text"]
    assert "Right: water" not in claims["unit"]["text"]  # never the problem's hints, not even for staff


@override_settings(XBLOCK_SETTINGS=SETTINGS)
def test_timed_exam_scenario(client):
    """course.1: the chat in a timed subsection: exam mode, and the unit's text withheld."""
    assert get_scenarios()["course.1"].description == "IBAL Chat in a timed exam"
    page = client.get("/scenario/course.1/").content.decode()
    [usage_id] = chat_usage_ids(page)
    claims = ticket_claims(client, usage_id)
    assert claims["exam"] is True
    assert claims["unit"] == {
        "section": "Week 2: Exam",
        "subsection": "Midterm",
        "title": "Question 1",
        "text": "",
        "truncated": False,
    }


def find_block(block, block_type):
    if block.scope_ids.block_type == block_type:
        return block
    for child in block.get_children() if block.has_children else []:
        found = find_block(child, block_type)
        if found is not None:
            return found
    return None


def find_chat(block):
    return find_block(block, "ibalxblock")
