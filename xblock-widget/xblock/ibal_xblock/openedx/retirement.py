"""Learner retirement: the gateway deletes what it holds about a learner the LMS retires.

Called from the LMS's retirement step ``retirement_lms_retire_misc`` (the
``USER_RETIRE_LMS_MISC`` signal), with the learner's original username and LMS user id. The
call is idempotent. When it fails, the error is raised into that step, so the retirement
pipeline marks the learner ERRORED and the step can be run again: a learner's data is never
silently left behind. When the service client is not configured, retirement at the gateway
is off: one log line says so and the LMS goes on.

Log lines name the learner by LMS user id only.
"""

from __future__ import annotations

import logging
from typing import Any

from ..config import ConfigError
from . import edx_platform
from .errors import GatewayError
from .gateway_client import SCOPE_RETIREMENT, GatewayClient

log = logging.getLogger(__name__)

RETIREMENT_PATH = "/api/v1/retirement"


def _user_id(user: Any) -> int | None:
    value = getattr(user, "id", None)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def retire_learner(user: Any, *, client: GatewayClient | None = None) -> dict[str, int] | None:
    """Ask the gateway to delete the learner's data; returns its counts of removed rows by table.

    Returns None (after one log line) when retirement at the gateway is not configured; raises
    :class:`GatewayError` when the gateway cannot do it.
    """
    try:
        config = edx_platform.service_config()
    except ConfigError as error:
        log.warning("IBAL learner retirement is disabled, the gateway keeps its data on learners: %s", error)
        return None
    user_id = _user_id(user)
    username = edx_platform.original_username(user)
    if not username:
        raise GatewayError(f"IBAL learner retirement of LMS user {user_id}: the learner has no username")
    client = client or GatewayClient(config)
    try:
        answer = client.call("POST", RETIREMENT_PATH, SCOPE_RETIREMENT, {"username": username, "lms_user_id": user_id})
    except GatewayError as error:
        log.error("IBAL learner retirement of LMS user %s failed: %s", user_id, error)
        raise
    removed = answer.get("removed")
    counts = (
        {
            str(table): count
            for table, count in removed.items()
            if isinstance(count, int) and not isinstance(count, bool)
        }
        if isinstance(removed, dict)
        else {}
    )
    summary = ", ".join(f"{table}: {count}" for table, count in sorted(counts.items()) if count) or "nothing"
    log.info("IBAL learner retirement of LMS user %s: the gateway removed %s", user_id, summary)
    return counts
