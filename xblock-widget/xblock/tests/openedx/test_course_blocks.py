"""The records of a course (course_blocks.py) and the request batches (indexer.py), without a gateway."""

import hashlib
from datetime import UTC, datetime, timedelta, timezone

import pytest

from ibal_xblock.openedx import course_blocks, indexer
from tests.openedx import platform_fakes

# The worked example of docs/indexing-and-retirement.md: the gateway recomputes this hash to the same value.
DOCUMENTED_RECORD = {
    "usage_id": "block-v1:OpenedX+DemoX+2025+type@html+block@reading",
    "block_type": "html",
    "display_name": "Reading",
    "breadcrumb": ["Biology 101", "Week 1", "Photosynthesis", "The light reactions"],
    "text": "Chlorophyll absorbs light \u2014 and splits water.\nOxygen is released.",
    "start": "2025-01-06T09:00:00Z",
    "staff_only": False,
    "group_access": {"50": [2]},
    "url": "https://lms.example.com/courses/course-v1:OpenedX+DemoX+2025/jump_to/"
    "block-v1:OpenedX+DemoX+2025+type@html+block@reading",
    "position": 0,
}
DOCUMENTED_CANONICAL = (
    '{"block_type":"html","breadcrumb":["Biology 101","Week 1","Photosynthesis","The light reactions"],'
    '"display_name":"Reading","group_access":{"50":[2]},"position":0,"staff_only":false,'
    '"start":"2025-01-06T09:00:00Z","text":"Chlorophyll absorbs light \u2014 and splits water.\\nOxygen is released.",'
    '"url":"https://lms.example.com/courses/course-v1:OpenedX+DemoX+2025/jump_to/'
    'block-v1:OpenedX+DemoX+2025+type@html+block@reading","usage_id":"block-v1:OpenedX+DemoX+2025+type@html+block@reading"}'
)
DOCUMENTED_HASH = "967ada56eeedbf6fd14229d1f511c6fede879d0d99afd5770488001f1f502d49"


def test_the_documented_hash():
    assert course_blocks.canonical_json(DOCUMENTED_RECORD).decode("utf-8") == DOCUMENTED_CANONICAL
    assert hashlib.sha256(DOCUMENTED_CANONICAL.encode("utf-8")).hexdigest() == DOCUMENTED_HASH
    assert course_blocks.record_hash(DOCUMENTED_RECORD) == DOCUMENTED_HASH
    # The hash itself is not hashed.
    assert course_blocks.record_hash({**DOCUMENTED_RECORD, "hash": "x"}) == DOCUMENTED_HASH


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        (datetime(2025, 1, 6, 9, 0, 30, 123456, tzinfo=UTC), "2025-01-06T09:00:30Z"),
        (datetime(2025, 1, 6, 11, 0, tzinfo=timezone(timedelta(hours=2))), "2025-01-06T09:00:00Z"),
        (datetime(2025, 1, 6, 9, 0), "2025-01-06T09:00:00Z"),  # naive: the modulestore's UTC
    ],
)
def test_rfc3339(value, expected):
    assert course_blocks.rfc3339(value) == expected


def outline(*children, **course_fields):
    key = platform_fakes.CourseKey.from_string("course-v1:IBAL+T+1")
    root = platform_fakes.course("course-v1:IBAL+T+1", "Course", list(children), **course_fields)
    return key, course_blocks.collect(root, course_id="course-v1:IBAL+T+1", lms_root_url="https://lms.example.com/")


def html(key, block_id, **fields):
    return platform_fakes.block(key, "html", block_id, block_id.title(), data=f"<p>{block_id}</p>", **fields)


KEY = platform_fakes.CourseKey.from_string("course-v1:IBAL+T+1")


def test_exam_subsections_are_left_out():
    flags = ("is_time_limited", "is_proctored_enabled", "is_practice_exam", "is_onboarding_exam")
    subsections = [
        platform_fakes.block(KEY, "sequential", flag, flag, [html(KEY, f"in_{flag}")], **{flag: True}) for flag in flags
    ]
    open_subsection = platform_fakes.block(KEY, "sequential", "open", "Open", [html(KEY, "visible")])
    _, result = outline(platform_fakes.block(KEY, "chapter", "ch", "Chapter", [*subsections, open_subsection]))
    assert [block["usage_id"].rsplit("@", 1)[1] for block in result.blocks] == ["visible"]


def test_nested_containers_keep_the_unit_breadcrumb_and_the_links_have_one_slash():
    library = platform_fakes.block(KEY, "library_content", "lib", "Library", [html(KEY, "drawn")])
    unit = platform_fakes.block(KEY, "vertical", "u", "Unit", [library])
    _, result = outline(platform_fakes.block(KEY, "chapter", "ch", "Chapter", [unit]))
    (block,) = result.blocks
    assert block["breadcrumb"] == ["Course", "Chapter", "Unit"]
    assert block["url"] == (
        "https://lms.example.com/courses/course-v1:IBAL+T+1/jump_to/block-v1:IBAL+T+1+type@html+block@drawn"
    )


def test_an_unreadable_group_access_hides_the_block_from_learners():
    _, result = outline(html(KEY, "odd", group_access={"cohorts": ["a"]}), html(KEY, "fine", group_access={50: []}))
    odd, fine = result.blocks
    assert (odd["staff_only"], odd["group_access"]) == (True, {})
    assert (fine["staff_only"], fine["group_access"]) == (False, {})


def test_disjoint_groups_leave_the_block_to_staff():
    unit = platform_fakes.block(KEY, "vertical", "u", "Unit", [html(KEY, "inner", group_access={50: [3]})])
    _, result = outline(platform_fakes.block(KEY, "chapter", "ch", "Chapter", [unit], group_access={50: [1]}))
    (block,) = result.blocks
    assert (block["staff_only"], block["group_access"]) == (True, {})


def test_a_child_released_before_its_parent_waits_for_it():
    early = datetime(2020, 1, 1, tzinfo=UTC)
    late = datetime(2026, 1, 1, tzinfo=UTC)
    unit = platform_fakes.block(KEY, "vertical", "u", "Unit", [html(KEY, "early", start=early)], start=late)
    _, result = outline(unit, start=datetime(2019, 1, 1, tzinfo=UTC))
    assert result.blocks[0]["start"] == "2026-01-01T00:00:00Z"


def test_an_experiment_without_a_partition_shows_nothing_to_learners():
    experiment = platform_fakes.block(KEY, "split_test", "x", "X", [html(KEY, "a")], user_partition_id=-1)
    _, result = outline(experiment)
    assert result.blocks[0]["staff_only"] is True


def block_of_size(number, characters):
    return {"usage_id": f"b{number}", "text": "x" * characters}


def test_batches_hold_at_most_200_blocks():
    blocks = [block_of_size(n, 10) for n in range(401)]
    assert [len(batch) for batch in indexer.batches("T", blocks)] == [200, 200, 1]


def test_batches_hold_at_most_4_mb():
    blocks = [block_of_size(n, 900_000) for n in range(9)]
    batches = list(indexer.batches("T", blocks))
    assert [len(batch) for batch in batches] == [4, 4, 1]
    for batch in batches:
        assert len(course_blocks.canonical_json({"course_title": "T", "blocks": batch})) <= indexer.MAX_REQUEST_BYTES
    assert [block for batch in batches for block in batch] == blocks
    assert list(indexer.batches("T", [])) == []


def test_course_ids_are_one_path_segment():
    assert (
        indexer.course_path("course-v1:Org+Course/1+Run") == "/api/v1/index/courses/course-v1%3AOrg%2BCourse%2F1%2BRun"
    )
