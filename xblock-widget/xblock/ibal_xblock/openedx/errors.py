"""What can go wrong talking to the gateway from Open edX. Messages name the call and the problem, never a token,
the client secret or course content, so they can be logged as they are."""

from __future__ import annotations


class IbalServiceError(Exception):
    """Course indexing or learner retirement could not be done."""


class NotConfigured(IbalServiceError):
    """The service client settings are missing or invalid: indexing and retirement are off."""


class CourseNotFound(IbalServiceError):
    """No published course has that id."""


class GatewayError(IbalServiceError):
    """The gateway could not be reached, or answered with an error.

    ``status`` is the HTTP status (None when no answer came), ``code`` the gateway's ``error`` code when it sent one.
    """

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None):
        super().__init__(message)
        self.status = status
        self.code = code
