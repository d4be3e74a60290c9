"""Pushing a published course to the gateway's course index, incrementally.

1. ``GET …/hashes``: the hash of every block the gateway holds for the course;
2. ``PUT …/blocks``: the blocks whose hash differs (or that it lacks), at most 200 blocks and
   4 MB per request (with ``full``, every block, without asking for the hashes);
3. ``POST …/prune``: the ids of all the course's blocks, so the gateway drops the others.

Running it twice in a row sends no block the second time, so Studio can run it on every
publish. Nothing is pruned when a push fails part way.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from ..config import ConfigError, ServiceConfig
from ..ibal_xblock import lms_root_url
from . import course_blocks, edx_platform
from .errors import GatewayError, NotConfigured
from .gateway_client import SCOPE_INDEX, GatewayClient

log = logging.getLogger(__name__)

#: The most blocks, and the most bytes of JSON, one ``PUT …/blocks`` request carries.
MAX_BLOCKS_PER_REQUEST = 200
MAX_REQUEST_BYTES = 4_000_000


@dataclass(frozen=True)
class IndexResult:
    """What one push did: the course's blocks, those sent, the gateway's counts of stored, unchanged and removed."""

    course_id: str
    blocks: int
    sent: int
    stored: int
    unchanged: int
    removed: int

    def summary(self) -> str:
        return (
            f"{self.blocks} blocks, {self.sent} sent ({self.stored} stored, {self.unchanged} unchanged), "
            f"{self.removed} removed"
        )


def course_path(course_id: str) -> str:
    """``/api/v1/index/courses/{course_id}``, the course id percent-encoded as one path segment."""
    return f"/api/v1/index/courses/{quote(course_id, safe='')}"


def service_config() -> ServiceConfig:
    """The service client settings; raises :class:`NotConfigured` (naming the setting) when they are unusable."""
    try:
        return edx_platform.service_config()
    except ConfigError as error:
        raise NotConfigured(str(error)) from None


def _encoded_size(value: Any) -> int:
    return len(course_blocks.canonical_json(value))


def batches(course_title: str, blocks: Iterable[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    """The blocks in groups that each make a request body within the limits (in their order)."""
    envelope = _encoded_size({"course_title": course_title, "blocks": []})
    batch: list[dict[str, Any]] = []
    size = envelope
    for block in blocks:
        block_size = _encoded_size(block) + 1  # and the comma that separates it from the previous one
        if batch and (len(batch) >= MAX_BLOCKS_PER_REQUEST or size + block_size > MAX_REQUEST_BYTES):
            yield batch
            batch, size = [], envelope
        batch.append(block)
        size += block_size
    if batch:
        yield batch


def _count(answer: dict[str, Any], name: str) -> int:
    value = answer.get(name)
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _known_hashes(client: GatewayClient, path: str) -> dict[str, str]:
    answer = client.call("GET", f"{path}/hashes", SCOPE_INDEX)
    hashes = answer.get("hashes")
    if not isinstance(hashes, dict):
        raise GatewayError(f"GET {path}/hashes: the gateway's answer has no hashes object")
    return {str(block_id): value for block_id, value in hashes.items() if isinstance(value, str)}


def index_course(course_id: str, *, full: bool = False, client: GatewayClient | None = None) -> IndexResult:
    """Push the published course to the gateway's index; with ``full``, every block whatever the gateway holds.

    Raises :class:`NotConfigured`, :class:`CourseNotFound` or :class:`GatewayError`.
    """
    config = service_config()
    root = lms_root_url()
    if root is None:
        raise NotConfigured("Django's LMS_ROOT_URL is not set (the index links every block to the LMS)")
    with edx_platform.published_course(course_id) as (key, course):
        outline = course_blocks.collect(course, course_id=key, lms_root_url=root)

    client = client or GatewayClient(config)
    path = course_path(outline.course_id)
    known = {} if full else _known_hashes(client, path)
    changed = [block for block in outline.blocks if known.get(block["usage_id"]) != block["hash"]]
    stored = unchanged = 0
    for batch in batches(outline.course_title, changed):
        answer = client.call(
            "PUT", f"{path}/blocks", SCOPE_INDEX, {"course_title": outline.course_title, "blocks": batch}
        )
        stored += _count(answer, "stored")
        unchanged += _count(answer, "unchanged")
    answer = client.call(
        "POST", f"{path}/prune", SCOPE_INDEX, {"keep": [block["usage_id"] for block in outline.blocks]}
    )
    result = IndexResult(
        course_id=outline.course_id,
        blocks=len(outline.blocks),
        sent=len(changed),
        stored=stored,
        unchanged=unchanged,
        removed=_count(answer, "removed"),
    )
    log.info("IBAL course index: %s: %s", result.course_id, result.summary())
    return result


def forget_course(course_id: str, *, client: GatewayClient | None = None) -> int:
    """Remove a deleted course's blocks from the gateway's index; returns how many were removed."""
    config = service_config()
    client = client or GatewayClient(config)
    answer = client.call("POST", f"{course_path(course_id)}/prune", SCOPE_INDEX, {"keep": []})
    removed = _count(answer, "removed")
    log.info("IBAL course index: %s was deleted: %d blocks removed", course_id, removed)
    return removed
