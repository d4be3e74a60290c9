"""The analytics events the chat publishes through the XBlock runtime (to the LMS tracking log).

The widget reports what happened (the chat was opened, a message was sent, a reply was rated);
the block publishes it with the fields it vouches for itself (course, block, the user's role, the
chat mode) and the few the request may add, each validated. Nothing else from the request is
kept: an event never holds the text of a message, a reply or a comment. No XBlock imports: the
block supplies the context, this module checks the request.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: The widget was mounted for the user.
CHAT_OPENED = "ibal.chat.opened"
#: The user sent a message.
MESSAGE_SENT = "ibal.message.sent"
#: The user rated an assistant reply.
REPLY_RATED = "ibal.reply.rated"

EVENT_TYPES = (CHAT_OPENED, MESSAGE_SENT, REPLY_RATED)

#: Longest message, in characters, a ``length`` may report.
MAX_MESSAGE_LENGTH = 100_000
#: Most messages a conversation may count in ``conversation_messages``.
MAX_CONVERSATION_MESSAGES = 100_000
#: A rating is a thumb, or a number of stars.
THUMBS = ("up", "down")
MIN_STARS = 1
MAX_STARS = 5


def _(text: str) -> str:
    """Mark a string for translation; the block translates it when it answers."""
    return text


class EventError(ValueError):
    """A request the handler refuses (400): ``message`` is a translatable text, ``params`` fill it in.

    The message names the field at fault, never the value the request gave.
    """

    def __init__(self, message: str, **params: Any):
        super().__init__(message.format(**params))
        self.message = message
        self.params = params


def _whole_number(data: Mapping[str, Any], name: str, low: int, high: int, required: bool) -> int | None:
    value = data.get(name)
    if value is None:
        if required:
            raise EventError(_("{field} is required."), field=name)
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise EventError(_("{field} must be a whole number from {low} to {high}."), field=name, low=low, high=high)
    return value


def _rating(data: Mapping[str, Any]) -> str | int:
    value = data.get("rating")
    if value is None:
        raise EventError(_("{field} is required."), field="rating")
    if isinstance(value, str) and value in THUMBS:
        return value
    if isinstance(value, int) and not isinstance(value, bool) and MIN_STARS <= value <= MAX_STARS:
        return value
    raise EventError(
        _('{field} must be "up", "down" or a whole number from {low} to {high}.'),
        field="rating",
        low=MIN_STARS,
        high=MAX_STARS,
    )


def _flag(data: Mapping[str, Any], name: str) -> bool:
    value = data.get(name)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise EventError(_("{field} must be true or false."), field=name)
    return value


def event_type_of(data: Any) -> str:
    """The ``event_type`` of a request body; raises EventError for a body that is not an object or a type that
    is not one of ``EVENT_TYPES``."""
    if not isinstance(data, Mapping):
        raise EventError(_("Expected a JSON object."))
    event_type = data.get("event_type")
    if not isinstance(event_type, str) or event_type not in EVENT_TYPES:
        raise EventError(_("Unknown event type."))
    return event_type


def event_fields(event_type: str, data: Mapping[str, Any]) -> dict[str, Any]:
    """The fields of ``event_type`` that the request may give, validated; everything else in ``data`` is dropped.

    ``ibal.message.sent``: ``length`` (required) and ``conversation_messages`` (left out when absent);
    ``ibal.reply.rated``: ``rating`` (required) and ``has_comment`` (false when absent);
    ``ibal.chat.opened``: none.
    """
    if event_type == MESSAGE_SENT:
        fields: dict[str, Any] = {"length": _whole_number(data, "length", 0, MAX_MESSAGE_LENGTH, required=True)}
        count = _whole_number(data, "conversation_messages", 0, MAX_CONVERSATION_MESSAGES, required=False)
        if count is not None:
            fields["conversation_messages"] = count
        return fields
    if event_type == REPLY_RATED:
        return {"rating": _rating(data), "has_comment": _flag(data, "has_comment")}
    if event_type == CHAT_OPENED:
        return {}
    raise EventError(_("Unknown event type."))
