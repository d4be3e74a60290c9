"""What the Open edX side reads from edx-platform and Django.

edx-platform's modules are imported inside these functions, never at module level: the
package must import where they are absent (the workbench, the tests).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ..config import SETTINGS_BUCKET, ServiceConfig, parse_service_settings
from .errors import CourseNotFound


def settings_bucket() -> Any:
    """``XBLOCK_SETTINGS["IbalXBlock"]`` from Django's settings (what the XBlock's settings service hands the block)."""
    from django.conf import settings

    buckets = getattr(settings, "XBLOCK_SETTINGS", None)
    return buckets.get(SETTINGS_BUCKET) if hasattr(buckets, "get") else None


def service_config() -> ServiceConfig:
    """The service client settings; raises ``ConfigError`` naming the setting that is missing or wrong."""
    return parse_service_settings(settings_bucket())


def without_branch(key: Any) -> Any:
    """A course or usage key without the modulestore's version and branch (``…+branch@published-branch``):
    the id the LMS and the gateway know the course and the block by."""
    for strip in ("version_agnostic", "for_branch"):
        method = getattr(key, strip, None)
        if callable(method):
            key = method() if strip == "version_agnostic" else method(None)
    return key


@contextmanager
def published_course(course_id: str) -> Iterator[tuple[str, Any]]:
    """The published version of a course as Studio's modulestore loads it, with every block (``depth=None``), and
    its course id. The course is read within the published-only branch setting, which the block tree is walked in."""
    from opaque_keys import InvalidKeyError
    from opaque_keys.edx.keys import CourseKey
    from xmodule.modulestore import ModuleStoreEnum
    from xmodule.modulestore.django import modulestore

    try:
        key = without_branch(CourseKey.from_string(course_id))
    except InvalidKeyError:
        raise CourseNotFound(f"{course_id!r} is not a course id") from None
    store = modulestore()
    with store.branch_setting(ModuleStoreEnum.Branch.published_only, key):
        course = store.get_course(key, depth=None)
        if course is None:
            raise CourseNotFound(f"there is no published course {key}")
        yield str(key), course


def all_course_ids() -> list[str]:
    """The ids of every course in the modulestore (libraries are not courses), sorted."""
    from xmodule.modulestore.django import modulestore

    return sorted({str(without_branch(summary.id)) for summary in modulestore().get_course_summaries()})


def original_username(user: Any) -> str:
    """The username a learner had before retirement.

    The LMS sends its retirement signal before the last step renames the user, but an operator may order the
    pipeline otherwise: the retirement record keeps the original name, the user object is the fallback.
    """
    try:
        from openedx.core.djangoapps.user_api.models import UserRetirementStatus

        return str(UserRetirementStatus.objects.get(user=user).original_username)
    except Exception:  # noqa: BLE001 - no retirement record (or not in the LMS): the user's own name
        return str(getattr(user, "username", "") or "")


def celery_app() -> Any:
    """edx-platform's Celery app, or None where there is none (the workbench, the tests without it).

    ``cms/__init__.py`` and ``lms/__init__.py`` import it as Django starts, so it is looked up among the loaded
    modules rather than imported: a module named ``cms`` elsewhere is not edx-platform's.
    """
    for name in ("cms.celery", "lms.celery"):
        app = getattr(sys.modules.get(name), "APP", None)
        if app is not None:
            return app
    return None
