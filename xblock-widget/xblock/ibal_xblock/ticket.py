"""The chat ticket: a short-lived JWS, signed inside the LMS, that proves a user's course context.

The gateway trusts the course, block, role, title and instructions of a chat only
when they arrive in a ticket it can verify with the public half of the key the
block signs with. No XBlock or Django imports: the block gathers who the user is
and where the chat is, this module turns that into a signed ticket.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Any

import jwt

from .config import TicketConfig

#: JWS algorithm of chat tickets (RSA PKCS#1 v1.5 with SHA-256).
ALGORITHM = "RS256"

#: The course roles a ticket can carry.
ROLES = ("learner", "staff", "instructor")

#: Longest title and instructions a ticket carries (the Studio form enforces the same limits).
MAX_TITLE = 255
MAX_INSTRUCTIONS = 8000


@dataclass(frozen=True)
class TicketUser:
    """Who the ticket is for, as the LMS knows them."""

    subject: str
    username: str
    user_id: int | None
    role: str
    global_staff: bool

    def __post_init__(self):
        if not self.subject or not self.username:
            raise ValueError("a chat ticket needs a subject and a username")
        if self.role not in ROLES:
            raise ValueError(f"unknown course role {self.role!r}")


@dataclass(frozen=True)
class ChatPlace:
    """Where the chat is: the course, the block, and what the block tells the assistant."""

    course_id: str
    usage_id: str
    title: str
    instructions: str

    def __post_init__(self):
        if not self.usage_id:
            raise ValueError("a chat ticket needs a usage id")


def ticket_claims(
    config: TicketConfig, audience: str, user: TicketUser, place: ChatPlace, now: float | None = None
) -> dict[str, Any]:
    """The claims of a ticket issued at ``now`` (seconds since the epoch, default: the current time)."""
    issued_at = int(time.time() if now is None else now)
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
            "title": place.title[:MAX_TITLE],
            "instructions": place.instructions[:MAX_INSTRUCTIONS],
            "iat": issued_at,
            "exp": issued_at + config.ttl,
            # Lets the gateway refuse a ticket presented twice.
            "jti": secrets.token_hex(16),
        }
    )
    return claims


def sign_ticket(config: TicketConfig, claims: dict[str, Any]) -> str:
    """The compact JWS of ``claims``, with header ``{"alg": "RS256", "typ": "JWT", "kid": <key id>}``."""
    return jwt.encode(claims, config.private_key, algorithm=ALGORITHM, headers={"typ": "JWT", "kid": config.key_id})


def mint_ticket(
    config: TicketConfig, audience: str, user: TicketUser, place: ChatPlace, now: float | None = None
) -> str:
    """Build and sign a ticket in one step."""
    return sign_ticket(config, ticket_claims(config, audience, user, place, now))
