"""Display helpers shared with static/dashboard/format.js: both render the API's strings the
same way, so a row patched in the browser reads exactly like one rendered here."""

from __future__ import annotations

import re

from django import template

register = template.Library()

_DECIMAL = re.compile(r"^-?\d+\.\d+$")
_MOMENT = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d")


@register.filter
def show(value) -> str:
    """A decimal string without its trailing zeros ("0.010000" -> "0.01"); an ISO time as
    "YYYY-MM-DD HH:MM:SS" (UTC); None as "-". Never arithmetic: money stays a string."""
    if value is None or value == "":
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    text = str(value)
    if _DECIMAL.match(text):
        text = text.rstrip("0").rstrip(".")
        return "0" if text in ("-0", "") else text
    if _MOMENT.match(text):
        return text[:19].replace("T", " ")
    return text


@register.filter
def get(mapping, key):
    return (mapping or {}).get(key)


@register.filter
def account_label(row, labels) -> str:
    """The label of ``row["account"]`` (static/dashboard/format.js: same rule); an empty
    row (the browser's <template>) gives ""."""
    if not row:
        return ""
    account = row.get("account")
    if account is None:
        return "group"
    return (labels or {}).get(account, str(account))
