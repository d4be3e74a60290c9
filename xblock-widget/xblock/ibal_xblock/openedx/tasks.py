"""Indexing off the request: Celery tasks in Open edX, inline elsewhere.

Studio's publish must never be slowed down or broken by the gateway: the signal receiver
only queues a task (once the database transaction that published the course has been
committed, so the worker reads the new version) and every failure is logged, never raised.
Where edx-platform's Celery app is absent (the workbench, tests), the work runs inline,
with the same logging.

The tasks are defined when this module is imported, as Celery's workers import every
installed app's ``tasks`` module; where Celery is not installed they are None.
"""

from __future__ import annotations

import logging
from functools import partial
from typing import Any

from django.db import transaction

from . import edx_platform, indexer
from .errors import CourseNotFound, GatewayError, NotConfigured

try:
    from celery import shared_task
except ImportError:  # no Celery (the xblock-sdk workbench): work runs inline
    shared_task = None

log = logging.getLogger(__name__)

INDEX_TASK = "ibal_xblock.openedx.tasks.index_course"
FORGET_TASK = "ibal_xblock.openedx.tasks.forget_course"


def run_index(course_id: str, full: bool = False) -> indexer.IndexResult | None:
    """Push a course to the index now; failures are logged (one line, no content), never raised."""
    try:
        return indexer.index_course(course_id, full=full)
    except NotConfigured as error:
        log.warning("IBAL course indexing is disabled: %s", error)
    except (CourseNotFound, GatewayError) as error:
        log.warning("IBAL course indexing of %s failed: %s", course_id, error)
    except Exception as error:  # noqa: BLE001 - whatever happens, the course stays published
        log.warning("IBAL course indexing of %s failed: unexpected %s", course_id, type(error).__name__)
    return None


def run_forget(course_id: str) -> int | None:
    """Remove a deleted course from the index now; failures are logged, never raised."""
    try:
        return indexer.forget_course(course_id)
    except NotConfigured as error:
        log.warning("IBAL course indexing is disabled: %s", error)
    except GatewayError as error:
        log.warning("IBAL course index: removing %s failed: %s", course_id, error)
    except Exception as error:  # noqa: BLE001
        log.warning("IBAL course index: removing %s failed: unexpected %s", course_id, type(error).__name__)
    return None


def _index_course(course_id: str, full: bool = False) -> None:
    run_index(course_id, full=full)


def _forget_course(course_id: str) -> None:
    run_forget(course_id)


if shared_task is not None:
    index_course_task: Any = shared_task(name=INDEX_TASK, ignore_result=True)(_index_course)
    forget_course_task: Any = shared_task(name=FORGET_TASK, ignore_result=True)(_forget_course)
else:
    index_course_task = forget_course_task = None


def _configured() -> bool:
    """Whether the service client is configured; if not, one line says why and nothing is queued."""
    try:
        indexer.service_config()
    except NotConfigured as error:
        log.warning("IBAL course indexing is disabled: %s", error)
        return False
    return True


def _enqueue(task: Any, what: str, course_id: str) -> None:
    try:
        task.apply_async(args=(course_id,))
    except Exception as error:  # noqa: BLE001 - the broker is down: the next publish or `ibal_index` catches up
        log.warning("IBAL course indexing: %s of %s could not be queued (%s)", what, course_id, type(error).__name__)


def _schedule(task: Any, inline: Any, what: str, course_id: str) -> None:
    if not _configured():
        return
    if task is None or edx_platform.celery_app() is None:
        inline(course_id)
        return
    transaction.on_commit(partial(_enqueue, task, what, course_id))


def schedule_index(course_id: str) -> None:
    """Index the course off the request (a Celery task after the commit), or inline where there is no Celery."""
    _schedule(index_course_task, run_index, "the update", course_id)


def schedule_forget(course_id: str) -> None:
    """Remove the course from the index off the request, or inline where there is no Celery."""
    _schedule(forget_course_task, run_forget, "the removal", course_id)
