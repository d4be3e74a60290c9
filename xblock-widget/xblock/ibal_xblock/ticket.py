"""The chat ticket: a short-lived JWS, signed inside the LMS, that proves a user's course context.

The gateway trusts the course, block, role, title, instructions, unit content and the
course team's controls of a chat only when they arrive in a ticket it can verify with
the public half of the key the block signs with. No XBlock or Django imports: the block
gathers who the user is and where the chat is, this module turns that into a signed ticket.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import jwt

from .config import TicketConfig
from .unit_content import MAX_TITLE_CHARS, UnitContent, clean_text

#: JWS algorithm of chat tickets (RSA PKCS#1 v1.5 with SHA-256).
ALGORITHM = "RS256"

#: The course roles a ticket can carry.
ROLES = ("learner", "staff", "instructor")

#: Longest title and instructions a ticket carries (the Studio form enforces the same limits).
MAX_TITLE = 255
MAX_INSTRUCTIONS = 8000

#: What the chat is: the course assistant, the live course room, or both in tabs.
MODES = ("assistant", "room", "both")
DEFAULT_MODE = "assistant"

#: How the assistant tutors: answer directly, or guide without giving the answer.
TUTOR_STYLES = ("direct", "guide")
DEFAULT_TUTOR_STYLE = "guide"

#: Conversation starters: how many, and how long each may be.
MAX_STARTERS = 4
MAX_STARTER_CHARS = 200

#: Longest style prompt a ticket carries (the Studio form enforces the same limit).
MAX_STYLE_PROMPT = 2000

#: Hex digits of the disclosure text's SHA-256 that name its version.
DISCLOSURE_VERSION_DIGITS = 16

#: Most user partitions (cohorts, enrollment tracks, content experiments…) the ``groups`` claim names.
MAX_GROUP_PARTITIONS = 64
#: Partition and group ids are integers the gateway reads as signed 64-bit numbers.
MAX_GROUP_ID = 2**63 - 1


def _whole_number(value: Any) -> int | None:
    """An integer from 0 to ``MAX_GROUP_ID``, from an int or a string of ASCII digits; None for anything else
    (bools included)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, int) and 0 <= value <= MAX_GROUP_ID:
        return value
    return None


def groups_claim(groups: Mapping[Any, Any]) -> dict[str, int]:
    """The ``groups`` claim: ``{"<partition id>": <group id>}``, in partition id order, at most
    ``MAX_GROUP_PARTITIONS`` entries; entries whose ids are not whole numbers (up to ``MAX_GROUP_ID``) are left
    out."""
    entries: dict[int, int] = {}
    for partition, group in groups.items():
        partition_id, group_id = _whole_number(partition), _whole_number(group)
        if partition_id is not None and group_id is not None:
            entries[partition_id] = group_id
    return {str(partition_id): entries[partition_id] for partition_id in sorted(entries)[:MAX_GROUP_PARTITIONS]}


def disclosure_version(text: str) -> str:
    """The version of a disclosure text: the first 16 hex digits of the SHA-256 of its UTF-8 bytes."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:DISCLOSURE_VERSION_DIGITS]


class _Utf8JSONEncoder(json.JSONEncoder):
    """JSON with non-ASCII characters as UTF-8 rather than ``\\uXXXX`` escapes: unit text in any language
    costs a third to a sixth of the ticket size it would otherwise."""

    def __init__(self, *args: Any, **kwargs: Any):
        kwargs["ensure_ascii"] = False
        super().__init__(*args, **kwargs)

    def encode(self, o: Any) -> str:
        # A lone surrogate (a malformed field) cannot be written as UTF-8: it is replaced rather than
        # failing the whole ticket.
        return super().encode(o).encode("utf-8", "replace").decode("utf-8")


@dataclass(frozen=True)
class TicketUser:
    """Who the ticket is for, as the LMS knows them.

    ``groups``: the user's group in each of the course's user partitions where they have one
    (``{partition id: group id}``), as the runtime's partitions service says.
    """

    subject: str
    username: str
    user_id: int | None
    role: str
    global_staff: bool
    groups: Mapping[int, int] = field(default_factory=dict, hash=False)

    def __post_init__(self):
        if not self.subject or not self.username:
            raise ValueError("a chat ticket needs a subject and a username")
        if self.role not in ROLES:
            raise ValueError(f"unknown course role {self.role!r}")


@dataclass(frozen=True)
class ChatPlace:
    """Where the chat is: the course, the block, what the block tells the assistant, the unit's
    content, and the course team's controls."""

    course_id: str
    usage_id: str
    title: str
    instructions: str
    course_title: str = ""
    unit: UnitContent = field(default_factory=UnitContent)
    mode: str = DEFAULT_MODE
    starters: tuple[str, ...] = ()
    tutor_style: str = DEFAULT_TUTOR_STYLE
    style_prompt: str = ""
    disclosure: str = ""
    exam: bool = False
    #: Whether the assistant answers in this block's live room when a message mentions it (where the
    #: operator turned the room assistant on); the gateway takes an absent claim as true.
    room_assistant: bool = True

    def __post_init__(self):
        if not self.usage_id:
            raise ValueError("a chat ticket needs a usage id")
        if self.mode not in MODES:
            raise ValueError(f"unknown chat mode {self.mode!r}")
        if self.tutor_style not in TUTOR_STYLES:
            raise ValueError(f"unknown tutoring style {self.tutor_style!r}")


def ticket_claims(
    config: TicketConfig, audience: str, user: TicketUser, place: ChatPlace, now: float | None = None
) -> dict[str, Any]:
    """The claims of a ticket issued at ``now`` (seconds since the epoch, default: the current time)."""
    issued_at = int(time.time() if now is None else now)
    # The version names exactly the text the claim carries.
    disclosure = clean_text(place.disclosure)
    claims: dict[str, Any] = {
        "iss": config.issuer,
        "aud": audience,
        "sub": user.subject,
        "preferred_username": user.username,
    }
    if user.user_id is not None:
        claims["user_id"] = user.user_id
    claims.update(
        {
            "course_id": place.course_id,
            "usage_id": place.usage_id,
            "role": user.role,
            "global_staff": user.global_staff,
            "groups": groups_claim(user.groups),
            "title": place.title[:MAX_TITLE],
            "instructions": place.instructions[:MAX_INSTRUCTIONS],
            "course_title": clean_text(place.course_title)[:MAX_TITLE_CHARS],
            "unit": place.unit.as_claim(),
            "mode": place.mode,
            "starters": [clean_text(starter)[:MAX_STARTER_CHARS] for starter in place.starters[:MAX_STARTERS]],
            "tutor_style": place.tutor_style,
            "style_prompt": clean_text(place.style_prompt)[:MAX_STYLE_PROMPT],
            "disclosure": {"text": disclosure, "version": disclosure_version(disclosure)},
            "exam": place.exam is True,
            "room_assistant": place.room_assistant is not False,
            "iat": issued_at,
            "exp": issued_at + config.ttl,
            # Lets the gateway refuse a ticket presented twice.
            "jti": secrets.token_hex(16),
        }
    )
    return claims


def sign_ticket(config: TicketConfig, claims: dict[str, Any]) -> str:
    """The compact JWS of ``claims``, with header ``{"alg": "RS256", "typ": "JWT", "kid": <key id>}``."""
    return jwt.encode(
        claims,
        config.private_key,
        algorithm=ALGORITHM,
        headers={"typ": "JWT", "kid": config.key_id},
        json_encoder=_Utf8JSONEncoder,
    )


def mint_ticket(
    config: TicketConfig, audience: str, user: TicketUser, place: ChatPlace, now: float | None = None
) -> str:
    """Build and sign a ticket in one step."""
    return sign_ticket(config, ticket_claims(config, audience, user, place, now))
