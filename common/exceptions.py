"""Domain errors. Services raise these; the API maps each to one status code."""

from __future__ import annotations


class ApplicationError(Exception):
    """A failure the user can act on. ``message`` is shown as is; keep secrets out of it."""

    status_code = 400
    code = "invalid"

    def __init__(self, message: str, *, extra: dict | None = None):
        super().__init__(message)
        self.message = message
        self.extra = extra or {}


class ValidationFailed(ApplicationError):
    status_code = 400
    code = "invalid"


class PermissionDenied(ApplicationError):
    status_code = 403
    code = "permission_denied"


class NotFound(ApplicationError):
    status_code = 404
    code = "not_found"


class Conflict(ApplicationError):
    status_code = 409
    code = "conflict"


class Unprocessable(ApplicationError):
    """Well-formed, but cannot be done as asked (an Idempotency-Key reused with a
    different body)."""

    status_code = 422
    code = "unprocessable"


class ServiceUnavailable(ApplicationError):
    status_code = 503
    code = "unavailable"
