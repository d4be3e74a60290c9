"""Studio publishes a course: its content reaches the real gateway's index (tests/openedx/real_gateway.py),
incrementally, with each block's visibility, and never a problem's answers. The gateway being down never troubles
Studio."""

import logging

import pytest
from django.db import transaction
from django.test.utils import override_settings

from ibal_xblock.openedx import tasks
from ibal_xblock.unit_content import capa_question_text
from tests import fakes
from tests.openedx import platform_fakes
from tests.openedx.conftest import CLIENT_SECRET, COURSE_ID, LMS_ROOT_URL, service_bucket

COURSE_PATH = "/api/v1/index/courses/course-v1%3AIBAL%2BBIO101%2B2025"
TOKEN = "POST /oauth2/token"
HASHES = "GET /api/v1/index/courses/{course}/hashes"
BLOCKS = "PUT /api/v1/index/courses/{course}/blocks"
PRUNE = "POST /api/v1/index/courses/{course}/prune"
IN_ORDER = [
    "reading",
    "quiz",
    "lecture",
    "key",
    "future",
    "brief",
    "verified",
    "variant_a",
    "variant_b",
    "variant_old",
]


def usage_id(block_id, block_type="html"):
    return f"block-v1:IBAL+BIO101+2025+type@{block_type}+block@{block_id}"


def publish(platform, course_id=COURSE_ID):
    """What Studio's modulestore does once a publish is done (``send``: a receiver's exception would propagate)."""
    return platform.course_published.send(
        sender=platform_fakes.FakeModuleStore, course_key=platform_fakes.CourseKey.from_string(course_id)
    )


def sent_blocks(gateway, since=0):
    """The blocks of every ``PUT …/blocks`` since request number ``since``, by block id."""
    blocks = {}
    for request in gateway.requests[since:]:
        if request.endpoint == BLOCKS:
            for block in request.json["blocks"]:
                blocks[block["usage_id"].rsplit("@", 1)[1]] = block
    return blocks


def keep_lists(gateway):
    return [request.json["keep"] for request in gateway.requests if request.endpoint == PRUNE]


# ------------------------------------------------------------------ a first publish


def test_a_publish_pushes_every_block_with_its_fields(platform, configured):
    gateway = configured
    assert publish(platform)  # the receiver ran, and returned

    assert gateway.endpoints() == [TOKEN, HASHES, BLOCKS, PRUNE]
    assert all(request.status == 200 for request in gateway.requests)
    # The course id is one percent-encoded path segment.
    assert [request.path for request in gateway.api_requests()] == [
        f"{COURSE_PATH}/hashes",
        f"{COURSE_PATH}/blocks",
        f"{COURSE_PATH}/prune",
    ]
    # The published course, read whole, in the published-only branch.
    assert platform.store.loads == [(COURSE_ID, None, "published-only")]

    (put,) = [request for request in gateway.requests if request.endpoint == BLOCKS]
    assert put.headers["Content-Type"] == "application/json"
    assert put.json["course_title"] == "Biology 101"
    blocks = put.json["blocks"]
    assert [block["usage_id"] for block in blocks] == [
        usage_id(block_id, {"quiz": "problem", "lecture": "video"}.get(block_id, "html")) for block_id in IN_ORDER
    ]
    assert [block["position"] for block in blocks] == list(range(len(IN_ORDER)))

    by_id = sent_blocks(gateway)
    reading = dict(by_id["reading"])
    assert len(reading.pop("hash")) == 64
    assert reading == {
        "usage_id": usage_id("reading"),
        "block_type": "html",
        "display_name": "Reading",
        "breadcrumb": ["Biology 101", "Week 1", "Photosynthesis", "The light reactions"],
        "text": "Chlorophyll absorbs light and splits water.",
        "start": "2025-01-06T09:00:00Z",
        "staff_only": False,
        "group_access": {},
        "url": f"{LMS_ROOT_URL}/courses/{COURSE_ID}/jump_to/{usage_id('reading')}",
        "position": 0,
    }
    quiz = by_id["quiz"]
    assert (quiz["block_type"], quiz["display_name"]) == ("problem", "Quiz")
    assert quiz["text"] == capa_question_text(fakes.CAPA)
    assert "Which organelle makes ATP?" in quiz["text"]
    lecture = by_id["lecture"]
    assert (lecture["block_type"], lecture["display_name"], lecture["text"]) == (
        "video",
        "Lecture 1",
        "Welcome to the lecture.\nLight!",
    )

    # The gateway now holds the course; the prune keeps it all.
    assert set(gateway.index[COURSE_ID]) == {block["usage_id"] for block in blocks}
    assert keep_lists(gateway) == [[block["usage_id"] for block in blocks]]


def test_the_token_request_is_the_client_credentials_grant(platform, configured):
    gateway = configured
    publish(platform)
    token_request = gateway.requests[0]
    assert token_request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    form = dict(pair.split("=", 1) for pair in token_request.body.decode().split("&"))
    assert form == {
        "grant_type": "client_credentials",
        "client_id": "ibal-openedx",
        "client_secret": CLIENT_SECRET,
        "scope": "index",
    }
    for request in gateway.api_requests():
        assert request.headers["Authorization"] == f"Bearer {gateway.issued_tokens[0]}"


def test_hidden_blocks_carry_their_visibility(platform, configured):
    publish(platform)
    blocks = sent_blocks(configured)

    # The reading is for everyone from the course start.
    assert (blocks["reading"]["staff_only"], blocks["reading"]["group_access"]) == (False, {})
    # In a unit visible to staff only.
    assert blocks["key"]["staff_only"] is True
    assert blocks["key"]["breadcrumb"] == ["Biology 101", "Week 1", "Photosynthesis", "Staff notes"]
    # Released with its subsection, later than the course; a component without a name is called by its kind.
    assert blocks["future"]["start"] == "2031-09-01T08:30:00Z"
    assert blocks["future"]["display_name"] == "Text"
    assert blocks["future"]["staff_only"] is False
    # The section allows cohorts 1 and 2, its unit 2 and 3: only cohort 2 sees it. The empty entry restricts nothing.
    assert blocks["brief"]["group_access"] == {"50": [2]}
    assert blocks["brief"]["staff_only"] is False
    # ...and one component is also for one enrollment track.
    assert blocks["verified"]["group_access"] == {"50": [2], "60": [2]}
    # A content experiment: each child for its experiment group; a child no group has is for staff only.
    assert blocks["variant_a"]["group_access"] == {"70": [0]}
    assert blocks["variant_b"]["group_access"] == {"70": [1]}
    assert (blocks["variant_old"]["staff_only"], blocks["variant_old"]["group_access"]) == (True, {})
    assert blocks["variant_a"]["breadcrumb"] == ["Biology 101", "Lab", "Trial", "Variants"]


def test_what_the_index_never_gets(platform, configured):
    publish(platform)
    bodies = "\n".join(request.body.decode("utf-8") for request in configured.requests)
    # A problem's answers, correctness, solutions, hints, feedback and grader code. ("true" is left out of the
    # check: JSON has it; the problem's text is checked for it below.)
    leaked = [secret for secret in fakes.CAPA_SECRETS if secret != "true" and secret in bodies]
    assert not leaked
    assert "true" not in sent_blocks(configured)["quiz"]["text"]
    # A script in an HTML component; the timed exam's question; the chat block and the discussion.
    for absent in ("var secret", "Exam question", "Final exam", "IBAL Chat", "Discuss", "type@ibalxblock"):
        assert absent not in bodies


# ------------------------------------------------------------------ incremental


def test_a_second_publish_without_changes_sends_no_block(platform, configured):
    gateway = configured
    publish(platform)
    first = len(gateway.requests)
    publish(platform)
    # The token is reused; only the hashes and the prune.
    assert gateway.endpoints()[first:] == [HASHES, PRUNE]
    first_keep, second_keep = keep_lists(gateway)
    assert first_keep == second_keep
    assert len(gateway.index[COURSE_ID]) == len(IN_ORDER)


def test_a_changed_block_is_sent_alone(platform, configured):
    gateway = configured
    publish(platform)
    first = len(gateway.requests)
    platform_fakes.find(platform.store.courses[COURSE_ID], "reading").data = "<p>Chlorophyll absorbs red light.</p>"
    publish(platform)
    assert gateway.endpoints()[first:] == [HASHES, BLOCKS, PRUNE]
    changed = sent_blocks(gateway, since=first)
    assert list(changed) == ["reading"]
    assert changed["reading"]["text"] == "Chlorophyll absorbs red light."
    assert gateway.index[COURSE_ID][usage_id("reading")]["text"] == "Chlorophyll absorbs red light."


def test_a_deleted_block_is_pruned(platform, configured):
    gateway = configured
    publish(platform)
    first = len(gateway.requests)
    variants = platform_fakes.find(platform.store.courses[COURSE_ID], "experiment")
    variants.children = [child for child in variants.children if child.scope_ids.usage_id.block_id != "variant_old"]
    publish(platform)
    assert gateway.endpoints()[first:] == [HASHES, PRUNE]
    assert usage_id("variant_old") not in gateway.requests[-1].json["keep"]
    assert usage_id("variant_old") not in gateway.index[COURSE_ID]
    assert len(gateway.index[COURSE_ID]) == len(IN_ORDER) - 1


def test_the_blocks_after_a_removed_one_are_sent_again_with_their_new_position(platform, configured):
    # The hash covers the position (document order), so the blocks that moved up are sent again.
    gateway = configured
    publish(platform)
    first = len(gateway.requests)
    unit = platform_fakes.find(platform.store.courses[COURSE_ID], "light")
    unit.children = [child for child in unit.children if child.scope_ids.usage_id.block_id != "quiz"]
    publish(platform)
    moved = sent_blocks(gateway, since=first)
    assert list(moved) == IN_ORDER[2:]
    assert [block["position"] for block in moved.values()] == list(range(1, len(IN_ORDER) - 1))
    assert usage_id("quiz", "problem") not in gateway.index[COURSE_ID]


def test_a_deleted_course_is_removed_from_the_index(platform, configured):
    gateway = configured
    publish(platform)
    platform.course_deleted.send(
        sender=platform_fakes.FakeModuleStore, course_key=platform_fakes.CourseKey.from_string(COURSE_ID)
    )
    assert gateway.endpoints()[-1] == PRUNE
    assert gateway.requests[-1].json == {"keep": []}
    assert gateway.index[COURSE_ID] == {}


# ------------------------------------------------------------------ failures


def test_gateway_down_is_logged_and_studio_goes_on(platform, configured, caplog):
    configured.stop()
    with caplog.at_level(logging.INFO):
        responses = publish(platform)
    assert [response for _, response in responses] == [None]
    warnings = [record for record in caplog.records if record.levelno >= logging.WARNING]
    assert len(warnings) == 1
    message = warnings[0].getMessage()
    assert message.startswith(f"IBAL course indexing of {COURSE_ID} failed: POST /oauth2/token: the gateway at ")
    assert "cannot be reached" in message


def test_server_errors_are_retried(platform, configured):
    gateway = configured
    gateway.fail(503, times=2, endpoint=BLOCKS)
    publish(platform)
    assert gateway.endpoints() == [TOKEN, HASHES, BLOCKS, BLOCKS, BLOCKS, PRUNE]
    assert [request.status for request in gateway.requests if request.endpoint == BLOCKS] == [503, 503, 200]
    assert len(gateway.index[COURSE_ID]) == len(IN_ORDER)


def test_a_push_that_fails_prunes_nothing(platform, configured, caplog):
    gateway = configured
    publish(platform)
    platform_fakes.find(platform.store.courses[COURSE_ID], "reading").data = "<p>New text.</p>"
    gateway.fail(500, times=4, endpoint=BLOCKS)
    first = len(gateway.requests)
    with caplog.at_level(logging.WARNING):
        publish(platform)
    # One try and three retries, then nothing more: no prune.
    assert gateway.endpoints()[first:] == [HASHES, BLOCKS, BLOCKS, BLOCKS, BLOCKS]
    (warning,) = [record for record in caplog.records if record.levelno >= logging.WARNING]
    assert "PUT /api/v1/index/courses/course-v1%3AIBAL%2BBIO101%2B2025/blocks: the gateway answered 500" in (
        warning.getMessage()
    )
    assert "(unavailable: Simulated failure.)" in warning.getMessage()


def test_an_expired_token_is_renewed_once(platform, configured):
    gateway = configured
    publish(platform)
    first = len(gateway.requests)
    gateway.revoke_tokens()
    publish(platform)
    assert gateway.endpoints()[first:] == [HASHES, TOKEN, HASHES, PRUNE]
    assert [request.status for request in gateway.requests[first:]] == [401, 200, 200, 200]
    assert gateway.requests[-1].headers["Authorization"] == f"Bearer {gateway.issued_tokens[1]}"


def test_a_token_refused_twice_is_not_retried_again(platform, configured, caplog):
    gateway = configured
    gateway.reject_every_token = True
    with caplog.at_level(logging.WARNING):
        publish(platform)
    assert gateway.endpoints() == [TOKEN, HASHES, TOKEN, HASHES]
    (warning,) = caplog.records
    assert "answered 401 (invalid_token: The access token is not valid.)" in warning.getMessage()


def test_wrong_client_credentials(platform, gateway, caplog):
    bucket = service_bucket(gateway.url, SERVICE_CLIENT_SECRET="not-the-secret")
    with override_settings(XBLOCK_SETTINGS={"IbalXBlock": bucket}, LMS_ROOT_URL=LMS_ROOT_URL):
        with caplog.at_level(logging.WARNING):
            publish(platform)
    assert gateway.endpoints() == [TOKEN]
    (warning,) = caplog.records
    assert "a service token (scope index): the gateway answered 401 (invalid_client:" in warning.getMessage()
    assert "not-the-secret" not in caplog.text


def test_logs_never_hold_tokens_secrets_or_content(platform, configured, caplog):
    gateway = configured
    with caplog.at_level(logging.DEBUG):
        publish(platform)
        gateway.revoke_tokens()
        platform_fakes.find(platform.store.courses[COURSE_ID], "reading").data = "<p>Photons excite electrons.</p>"
        publish(platform)
        gateway.fail(503, times=4)
        publish(platform)
    logged = caplog.text
    assert "IBAL course index: course-v1:IBAL+BIO101+2025: 10 blocks, 10 sent (10 stored, 0 unchanged)" in logged
    assert CLIENT_SECRET not in logged
    assert gateway.issued_tokens and not [token for token in gateway.issued_tokens if token in logged]
    texts = [block["text"] for block in gateway.index[COURSE_ID].values()]
    assert not [text for text in texts if text[:20] in logged]
    assert "Photons" not in logged


def test_missing_settings_log_one_line_and_send_nothing(platform, gateway, caplog):
    bucket = service_bucket(gateway.url, SERVICE_CLIENT_ID=None)
    with override_settings(XBLOCK_SETTINGS={"IbalXBlock": bucket}, LMS_ROOT_URL=LMS_ROOT_URL):
        with caplog.at_level(logging.DEBUG):
            publish(platform)
    assert gateway.requests == []
    assert [record.getMessage() for record in caplog.records] == [
        'IBAL course indexing is disabled: XBLOCK_SETTINGS["IbalXBlock"]["SERVICE_CLIENT_ID"] is missing'
    ]


def test_no_lms_root_url_no_request(platform, gateway, caplog):
    with override_settings(XBLOCK_SETTINGS={"IbalXBlock": service_bucket(gateway.url)}, LMS_ROOT_URL=None):
        with caplog.at_level(logging.WARNING):
            publish(platform)
    assert gateway.requests == []
    (warning,) = caplog.records
    assert "LMS_ROOT_URL is not set" in warning.getMessage()


# ------------------------------------------------------------------ off the request


def test_with_celery_the_publish_queues_a_task_after_the_commit(platform, configured, platform_celery):
    gateway = configured
    with transaction.atomic():
        publish(platform)
        # Nothing yet: the worker must read the course once the publish is committed.
        assert platform_celery == []
        assert gateway.requests == []
    assert platform_celery == [(tasks.INDEX_TASK, (COURSE_ID,))]
    assert gateway.endpoints() == [TOKEN, HASHES, BLOCKS, PRUNE]


def test_with_celery_a_deleted_course_is_removed_by_a_task(platform, configured, platform_celery):
    platform.course_deleted.send(
        sender=platform_fakes.FakeModuleStore, course_key=platform_fakes.CourseKey.from_string(COURSE_ID)
    )
    assert platform_celery == [(tasks.FORGET_TASK, (COURSE_ID,))]
    assert configured.endpoints() == [TOKEN, PRUNE]


def test_a_broker_that_is_down_is_logged(platform, configured, platform_celery, monkeypatch, caplog):  # noqa: ARG001
    class Unqueueable:
        def apply_async(self, args):  # noqa: ARG002
            raise ConnectionRefusedError("broker")

    monkeypatch.setattr(tasks, "index_course_task", Unqueueable())
    with caplog.at_level(logging.WARNING):
        assert publish(platform)
    assert configured.requests == []
    (warning,) = caplog.records
    assert warning.getMessage() == (
        f"IBAL course indexing: the update of {COURSE_ID} could not be queued (ConnectionRefusedError)"
    )


def test_the_tasks_are_registered_with_the_platform_app(platform_celery):  # noqa: ARG001
    from celery import current_app

    assert current_app.tasks[tasks.INDEX_TASK].name == tasks.INDEX_TASK
    assert current_app.tasks[tasks.FORGET_TASK].name == tasks.FORGET_TASK


# ------------------------------------------------------------------ limits and languages


def big_course(course_id, units, text="", per_unit=1):
    key = platform_fakes.CourseKey.from_string(course_id)
    return platform_fakes.course(
        course_id,
        "Big",
        [
            platform_fakes.block(
                key,
                "chapter",
                "ch",
                "Chapter",
                [
                    platform_fakes.block(
                        key,
                        "sequential",
                        "seq",
                        "Sequence",
                        [
                            platform_fakes.block(
                                key,
                                "vertical",
                                f"u{unit}",
                                f"Unit {unit}",
                                [
                                    platform_fakes.block(key, "html", f"h{unit}_{n}", f"Page {unit}.{n}", data=text)
                                    for n in range(per_unit)
                                ],
                            )
                            for unit in range(units)
                        ],
                    )
                ],
            )
        ],
    )


def test_at_most_200_blocks_per_request(platform, configured):
    platform.store.add(big_course("course-v1:IBAL+BIG+1", units=9, per_unit=50, text="<p>Short page.</p>"))
    publish(platform, "course-v1:IBAL+BIG+1")
    puts = [request for request in configured.requests if request.endpoint == BLOCKS]
    assert [len(request.json["blocks"]) for request in puts] == [200, 200, 50]
    assert len(configured.index["course-v1:IBAL+BIG+1"]) == 450


def test_at_most_4_mb_per_request_and_200000_characters_per_block(platform, configured):
    # 30 blocks of 250,000 characters each, cut to 200,000 (at a word), in requests of at most 4 MB.
    words = "chlorophyll " * 20_834
    platform.store.add(big_course("course-v1:IBAL+BIG+2", units=30, text=f"<p>{words}</p>"))
    publish(platform, "course-v1:IBAL+BIG+2")
    puts = [request for request in configured.requests if request.endpoint == BLOCKS]
    assert len(puts) > 1
    assert all(len(request.body) <= 4_000_000 for request in puts)
    blocks = configured.index["course-v1:IBAL+BIG+2"]
    assert len(blocks) == 30
    for block in blocks.values():
        assert len(block["text"]) <= 200_000
        assert block["text"].endswith("chlorophyll")


@pytest.mark.parametrize(
    ("language", "transcripts", "expected"),
    [
        ("fr", {"en": "Hello.", "fr": "Bonjour."}, "Bonjour."),
        (None, {"en": "Hello.", "fr": "Bonjour."}, "Hello."),
        ("de", {"en": "Hello."}, "Hello."),
        ("pt-br", {"pt": "Olá.", "en": "Hello."}, "Olá."),
        ("en", {"fr": "Bonjour."}, ""),
    ],
)
def test_transcripts_in_the_course_language_else_english(platform, configured, language, transcripts, expected):
    course_id = "course-v1:IBAL+LANG+1"
    key = platform_fakes.CourseKey.from_string(course_id)
    unit = platform_fakes.block(key, "vertical", "u", "Unit", [platform_fakes.video(key, "v", "Talk", transcripts)])
    fields = {"language": language} if language else {}
    platform.store.add(platform_fakes.course(course_id, "Languages", [unit], **fields))
    publish(platform, course_id)
    (block,) = configured.index[course_id].values()
    assert block["text"] == expected
