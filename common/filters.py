"""Query parameters, parsed: django-filter FilterSets for the lists, serializer fields for
the other views - each parameter a 400 naming it when it is not what it says.

Ids were checked with ``str.isdigit()``, which is true of a superscript two (then a 500
from ``int()``) and of an Arabic-Indic one (which ``int()`` reads as 1: account 1's rows,
asked for in another script). A number here is ASCII digits, an id at least 1. Text
filters refuse NUL, which PostgreSQL cannot compare (Django's form CharField and DRF's
CharField both do).
"""

from __future__ import annotations

from datetime import UTC

import django_filters
from django import forms
from django.utils.dateparse import parse_datetime
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

MAX_ID = 2**63 - 1  # a bigint column's largest
ID_MESSAGE = "An id: digits 0-9, at least 1."
# No maximum: an id past 64 bits is well formed and matches nothing (a 404, an empty list).
ID_SCHEMA = {"type": "integer", "minimum": 1}
AWARE_MESSAGE = "An ISO 8601 time with a UTC offset, e.g. 2026-01-31T00:00:00Z."


def parse_id(value) -> int | None:
    """An id from a query string or a JSON body: an int, or ASCII digits, at least 1;
    else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 100:
        number = int(value)
    else:
        return None
    return number if number >= 1 else None


class IdFormField(forms.Field):
    def to_python(self, value):
        if value in self.empty_values:
            return None
        number = parse_id(value)
        if number is None:
            raise forms.ValidationError(ID_MESSAGE, code="invalid")
        return number


@extend_schema_field(ID_SCHEMA)
class IdFilter(django_filters.Filter):
    """``?account=12``: one id."""

    field_class = IdFormField

    def filter(self, qs, value):
        if value is not None and value > MAX_ID:
            # Matches nothing; not sent to the database, where SQLite cannot take it.
            return qs.none()
        return super().filter(qs, value)


class AwareDateTimeFormField(forms.Field):
    def to_python(self, value):
        if value in self.empty_values:
            return None
        try:
            moment = parse_datetime(value)
            # In UTC: PostgreSQL refuses offsets past 15:59 (Python takes up to 23:59), and
            # a moment that is no longer a date in UTC (year 0, year 10000) is out of range.
            if moment is not None and moment.tzinfo is not None:
                moment = moment.astimezone(UTC)
        except (ValueError, OverflowError):  # out of range: a month 13, an offset of 99 h
            moment = None
        if moment is None or moment.tzinfo is None:
            raise forms.ValidationError(AWARE_MESSAGE, code="invalid")
        return moment


@extend_schema_field({"type": "string", "format": "date-time"})
class AwareDateTimeFilter(django_filters.Filter):
    """A moment with its UTC offset: a naive time would be read in the server's zone."""

    field_class = AwareDateTimeFormField


class ChoicesInFilter(django_filters.BaseInFilter, django_filters.ChoiceFilter):
    """``?status=open,filled``: any of the listed values; an unknown one is a 400 naming it."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("error_messages", {"invalid_choice": "unknown: %(value)s"})
        super().__init__(*args, **kwargs)


class WholeNumberField(serializers.IntegerField):
    """An integer in a JSON body or a query serializer: an int, or ASCII digits (DRF's
    IntegerField reads any script's digits, and "1.0")."""

    default_error_messages = {"invalid": "A whole number: digits 0-9."}

    def to_internal_value(self, data):
        if isinstance(data, int) and not isinstance(data, bool):
            return data
        if isinstance(data, str) and data.isascii() and data.isdigit():
            # Past 19 digits a number is larger than any bound here, and int() of a long
            # string is slow (refused past 4300 digits).
            return int(data) if len(data) <= 19 else 10**19
        self.fail("invalid")


class IdField(WholeNumberField):
    """An id: at least 1 (past 64 bits it matches nothing)."""

    default_error_messages = {"invalid": ID_MESSAGE}

    def __init__(self, **kwargs):
        kwargs.setdefault("min_value", 1)
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        number = parse_id(data)
        if number is None:
            self.fail("invalid")
        return number
