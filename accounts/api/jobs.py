"""The API's side of accounts.jobs."""

from __future__ import annotations

from contextlib import contextmanager

from drf_spectacular.utils import OpenApiResponse
from rest_framework.exceptions import Throttled

from accounts.jobs import TooManyJobs

TOO_MANY_JOBS = OpenApiResponse(
    description="The user has EXCHANGE_JOBS_PER_USER requests to the exchange queued or "
    "running already; Retry-After says when to try again."
)


@contextmanager
def throttled_when_busy():
    """A user out of jobs gets 429 with Retry-After, as for any throttled request."""
    try:
        yield
    except TooManyJobs as exc:
        raise Throttled(wait=exc.retry_after, detail=exc.message) from exc
