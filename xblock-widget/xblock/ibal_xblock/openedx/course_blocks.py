"""A published course as the gateway's course index takes it: one record per component, in course order.

Pure functions over duck-typed blocks (the course as Studio's modulestore loads it, or plain
test objects). A component's text comes from unit_content.py, the rules the chat ticket
follows: the text a reader sees of an HTML component, a CAPA problem's question and choices
(never its answers, solutions, hints, feedback or correctness), a video's transcript. What
the index may not show a learner is said by each record's visibility (staff only, release
date, groups), which the gateway applies to the learner who asks.

Left out altogether: the chat blocks, component types without text, and everything in a
timed or proctored subsection (exam questions are not handed to the assistant, as in the
chat ticket).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ..unit_content import (
    Viewer,
    block_type,
    children_of,
    component_text,
    component_title,
    cut_at_word,
    display_name,
    is_exam_subsection,
)
from .edx_platform import without_branch

#: The component types whose text is indexed (the ones unit_content.py can read).
INDEXED_TYPES = frozenset({"html", "problem", "video"})

#: The containers whose titles make a component's breadcrumb: course, section, subsection, unit.
OUTLINE_TYPES = frozenset({"course", "chapter", "sequential", "vertical"})

#: Most characters of text one record carries (about 40 pages): any one record then fits in a request.
MAX_TEXT_CHARS = 200_000

#: Transcripts are taken in the course's language, else in English.
DEFAULT_LANGUAGE = "en"

# How deep containers may nest below the course (course, section, subsection, unit, then a few levels
# of content containers such as libraries and experiments); deeper is a malformed course.
_MAX_DEPTH = 16


@dataclass(frozen=True)
class Visibility:
    """Who may see a block, from its own settings and its ancestors' (as the LMS decides it).

    ``groups``: for each user partition that restricts the block, the groups that may see it (the
    intersection over the block and its ancestors). An empty set means no group may: the block is then
    for course staff only.
    """

    start: datetime | None = None
    staff_only: bool = False
    groups: Mapping[int, frozenset[int]] = field(default_factory=dict)

    def within(self, block: Any, extra_groups: Mapping[int, frozenset[int]] | None = None) -> Visibility:
        """The visibility of ``block``, a child of the block this visibility belongs to."""
        start = self.start
        own_start = _attr(block, "start")
        if isinstance(own_start, datetime):
            own_start = _as_utc(own_start)
            # A block is released when it and all its ancestors are.
            start = own_start if start is None else max(start, own_start)
        staff_only = self.staff_only or _attr(block, "visible_to_staff_only") is True
        groups = dict(self.groups)
        restrictions = _group_restrictions(block)
        if restrictions is None:
            staff_only = True  # a restriction that cannot be read: nobody but staff, to be safe
            restrictions = {}
        for partition, allowed in [*restrictions.items(), *(extra_groups or {}).items()]:
            groups[partition] = groups[partition] & allowed if partition in groups else allowed
        return Visibility(start=start, staff_only=staff_only, groups=groups)

    def as_fields(self) -> dict[str, Any]:
        """``start``, ``staff_only`` and ``group_access`` of a record."""
        nobody = any(not allowed for allowed in self.groups.values())
        return {
            "start": rfc3339(self.start),
            "staff_only": self.staff_only or nobody,
            "group_access": {
                str(partition): sorted(allowed) for partition, allowed in sorted(self.groups.items()) if allowed
            },
        }


@dataclass(frozen=True)
class CourseOutline:
    """The records of a course's components, in course order, and the course's title."""

    course_id: str
    course_title: str
    blocks: list[dict[str, Any]]


def _attr(block: Any, name: str) -> Any:
    try:
        return getattr(block, name, None)
    except Exception:  # noqa: BLE001 - a field that cannot be read counts as unset
        return None


def _as_utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def rfc3339(value: datetime | None) -> str | None:
    """``2025-01-31T09:00:00Z`` (UTC, whole seconds), or None."""
    return None if value is None else _as_utc(value).strftime("%Y-%m-%dT%H:%M:%SZ")


def _group_restrictions(block: Any) -> dict[int, frozenset[int]] | None:
    """The block's own ``group_access`` entries that restrict it (``{partition id: group ids}``, empty entries
    dropped: in edx-platform they restrict nothing); None when they cannot be read."""
    value = _attr(block, "group_access")
    if not value:
        return {}
    if not isinstance(value, Mapping):
        return None
    restrictions: dict[int, frozenset[int]] = {}
    try:
        for partition, groups in value.items():
            if groups:
                restrictions[int(partition)] = frozenset(int(group) for group in groups)
    except (TypeError, ValueError):
        return None
    return restrictions


def _experiment_groups(experiment: Any, child_id: str) -> dict[int, frozenset[int]]:
    """For a child of a content experiment (``split_test``), the experiment group that sees it. A child that no
    group is assigned to is shown to nobody (an empty set)."""
    partition = _attr(experiment, "user_partition_id")
    mapping = _attr(experiment, "group_id_to_child")
    try:
        partition = int(partition)
    except (TypeError, ValueError):
        partition = -1
    if partition < 0:
        # No experiment partition chosen yet: learners are shown none of the children.
        return {partition: frozenset()}
    groups: set[int] = set()
    if isinstance(mapping, Mapping):
        for group, child in mapping.items():
            try:
                if str(without_branch(child)) == child_id:
                    groups.add(int(group))
            except (TypeError, ValueError):
                continue
    return {partition: frozenset(groups)}


def usage_id(block: Any) -> str:
    """The block's usage id, without the modulestore's branch and version."""
    try:
        return str(without_branch(block.scope_ids.usage_id))
    except Exception:  # noqa: BLE001 - not an XBlock
        return ""


def canonical_json(value: Any) -> bytes:
    """The canonical JSON of a value: keys sorted, no spaces, UTF-8 (non-ASCII characters are not escaped)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8")


def record_hash(record: Mapping[str, Any]) -> str:
    """SHA-256 (hex) of the canonical JSON of a record's fields other than ``hash``."""
    return hashlib.sha256(canonical_json({key: value for key, value in record.items() if key != "hash"})).hexdigest()


def jump_to_url(lms_root_url: str, course_id: str, block_id: str) -> str:
    """The LMS URL that opens a block in the course: ``{LMS_ROOT_URL}/courses/{course_id}/jump_to/{usage_id}``."""
    return f"{lms_root_url.rstrip('/')}/courses/{course_id}/jump_to/{block_id}"


def collect(course: Any, course_id: str, lms_root_url: str) -> CourseOutline:
    """The records of the course's components: every html, problem and video block, in course order."""
    course_title = display_name(course)
    language = _attr(course, "language")
    viewer = Viewer(staff=True, language=language if isinstance(language, str) and language else DEFAULT_LANGUAGE)
    blocks: list[dict[str, Any]] = []

    def visit(block: Any, visibility: Visibility, breadcrumb: tuple[str, ...], depth: int) -> None:
        kind = block_type(block)
        block_id = usage_id(block)
        if kind in INDEXED_TYPES:
            text = cut_at_word(component_text(block, viewer), MAX_TEXT_CHARS)
            record: dict[str, Any] = {
                "usage_id": block_id,
                "block_type": kind,
                "display_name": component_title(block),
                "breadcrumb": list(breadcrumb),
                "text": text,
                **visibility.as_fields(),
                "url": jump_to_url(lms_root_url, course_id, block_id),
                "position": len(blocks),
            }
            record["hash"] = record_hash(record)
            blocks.append(record)
            return
        if depth >= _MAX_DEPTH or (kind == "sequential" and is_exam_subsection(block)):
            return
        if kind in OUTLINE_TYPES and kind != "course":
            title = display_name(block)
            breadcrumb = (*breadcrumb, title) if title else breadcrumb
        for child in children_of(block):
            extra = _experiment_groups(block, usage_id(child)) if kind == "split_test" else None
            visit(child, visibility.within(child, extra), breadcrumb, depth + 1)

    root_visibility = Visibility().within(course)
    visit(course, root_visibility, (course_title,) if course_title else (), 0)
    return CourseOutline(course_id=course_id, course_title=course_title, blocks=blocks)
