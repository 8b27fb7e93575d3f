"""Pagination for every API list: bounded pages, and strict about the numbers it reads.

DRF's LimitOffsetPagination has no maximum unless one is set, so ``limit=2**63`` reached
PostgreSQL as ``LIMIT 9223372036854775808`` and answered 500; and it reads ``limit``
with ``int()``, which takes any script's digits (an Arabic-Indic one is 1). Here a count
is ASCII digits or a 400 naming the parameter; a limit above the maximum is capped to it
(DRF's documented behaviour with ``max_limit``), so a client asking for more gets a full
page and a ``next`` link.
"""

from __future__ import annotations

from rest_framework import pagination
from rest_framework.exceptions import ValidationError
from rest_framework.settings import api_settings

MAX_LIMIT = 500
# More digits than any count we could hold; past it a value is "very large", not parsed
# (int() of a huge string is slow, and refused past 4300 digits).
_LONGEST = 19


def query_count(params, name: str, *, default: int, minimum: int, maximum: int | None) -> int:
    """A non-negative count from the query string: ``default`` when absent or empty, a
    400 naming ``name`` unless ASCII digits at least ``minimum``, capped at ``maximum``."""
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    if not (raw.isascii() and raw.isdigit()):
        raise ValidationError({name: [f"A whole number (digits 0-9), at least {minimum}."]})
    digits = raw.lstrip("0") or "0"
    value = int(digits) if len(digits) <= _LONGEST else 10**_LONGEST
    if value < minimum:
        raise ValidationError({name: [f"At least {minimum}."]})
    return value if maximum is None else min(value, maximum)


def _count_schema(name: str, description: str, *, minimum: int) -> dict:
    return {
        "name": name,
        "required": False,
        "in": "query",
        "description": description,
        "schema": {"type": "integer", "minimum": minimum},
    }


class LimitOffsetPagination(pagination.LimitOffsetPagination):
    """The API's default: ``limit`` (1 to 500, default PAGE_SIZE) and ``offset``."""

    max_limit = MAX_LIMIT

    def get_limit(self, request):
        return query_count(
            request.query_params,
            self.limit_query_param,
            default=self.default_limit,
            minimum=1,
            maximum=self.max_limit,
        )

    def get_offset(self, request):
        # An offset past the last row is an empty page: DRF answers it without a query,
        # so a huge offset never reaches the database.
        return query_count(
            request.query_params, self.offset_query_param, default=0, minimum=0, maximum=None
        )

    def get_schema_operation_parameters(self, view):
        return [
            _count_schema(
                self.limit_query_param,
                f"Rows per page: 1 to {self.max_limit} (larger values are capped), "
                f"default {self.default_limit}.",
                minimum=1,
            ),
            _count_schema(self.offset_query_param, "Rows to skip.", minimum=0),
        ]


class CursorPagination(pagination.CursorPagination):
    """Newest first, through a ``cursor``; ``limit`` rows a page (1 to 500, default
    PAGE_SIZE). Subclasses set ``ordering``."""

    page_size = api_settings.PAGE_SIZE
    max_page_size = MAX_LIMIT
    page_size_query_param = "limit"

    def get_page_size(self, request):
        return query_count(
            request.query_params,
            self.page_size_query_param,
            default=self.page_size,
            minimum=1,
            maximum=self.max_page_size,
        )

    def get_schema_operation_parameters(self, view):
        return [
            {
                "name": self.cursor_query_param,
                "required": False,
                "in": "query",
                "description": "The next or previous page's cursor, from a page's links.",
                "schema": {"type": "string"},
            },
            _count_schema(
                self.page_size_query_param,
                f"Rows per page: 1 to {self.max_page_size} (larger values are capped), "
                f"default {self.page_size}.",
                minimum=1,
            ),
        ]
