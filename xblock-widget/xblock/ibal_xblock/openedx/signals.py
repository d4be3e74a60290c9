"""Receivers of edx-platform's signals, connected by its plugin framework (see apps.py).

Studio: ``SignalHandler.course_published`` and ``course_deleted`` (xmodule.modulestore.django),
which the modulestore sends with ``course_key`` once a publish or a deletion is done. There is
no openedx-events event for a whole course's publication (``XBLOCK_PUBLISHED`` fires per
block, ``COURSE_CATALOG_INFO_CHANGED`` only behind a toggle and only for catalog data), so
these are the signals edx-platform's own course-wide work (search index, outlines) listens
to. They must return at once and never raise: they queue a task.

LMS: ``USER_RETIRE_LMS_MISC``, sent with ``user`` by the retirement API's "LMS misc" step.
"""

from __future__ import annotations

import logging
from typing import Any

from . import retirement, tasks

log = logging.getLogger(__name__)


def course_published(sender: Any, course_key: Any = None, **kwargs: Any) -> None:  # noqa: ARG001 - signal signature
    """A course was published in Studio: have it indexed."""
    try:
        tasks.schedule_index(str(course_key))
    except Exception as error:  # noqa: BLE001 - publishing must never fail because of the index
        log.warning("IBAL course indexing of %s could not be scheduled (%s)", course_key, type(error).__name__)


def course_deleted(sender: Any, course_key: Any = None, **kwargs: Any) -> None:  # noqa: ARG001 - signal signature
    """A course was deleted in Studio: have it removed from the index."""
    try:
        tasks.schedule_forget(str(course_key))
    except Exception as error:  # noqa: BLE001
        log.warning("IBAL course index: removing %s could not be scheduled (%s)", course_key, type(error).__name__)


def learner_retired(sender: Any, user: Any = None, **kwargs: Any) -> None:  # noqa: ARG001 - signal signature
    """The LMS is retiring a learner: the gateway deletes their data (a failure fails the retirement step)."""
    retirement.retire_learner(user)
