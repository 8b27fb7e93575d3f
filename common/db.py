"""Reads on the hot paths, written out.

Django builds a query's SQL anew each time it runs; for one row of a model with many
columns that takes longer (about 1 ms on a 2-core machine) than the database takes to
answer (0.2 ms). The few reads that every order or alert makes are fixed statements: a
RawQuerySet builds the instances - the model's own converters applied, deferred loading
and relations as usual - the same objects the ORM would give. ``one_row`` reads one;
``for_update`` and ``columns`` are the pieces the longer written-out reads share.
"""

from __future__ import annotations

from typing import TypeVar

from django.db import models, transaction

M = TypeVar("M", bound=models.Model)

# Every integer column here is at most 64 bits: a larger value matches no row.
_INT64 = range(-(2**63), 2**63)


def for_update(of: str = "") -> str:
    """`` FOR UPDATE`` (``OF of``) where the database has row locks, else "" (SQLite runs
    one writing transaction at a time). Held until the caller's transaction ends."""
    if not transaction.get_connection().features.has_select_for_update:
        return ""
    return f" FOR UPDATE OF {of}" if of else " FOR UPDATE"


def columns(model: type[models.Model], *, without: tuple[str, ...] = ()) -> str:
    """The model's columns for a SELECT list, leaving out the fields named in ``without``
    (left unread: deferred, as ``defer()`` leaves them)."""
    return ", ".join(f.column for f in model._meta.concrete_fields if f.name not in without)


def one_row(model: type[M], where: str, params: list, *, lock: bool = False) -> M | None:
    """The ``model`` row matching ``where`` (the first by primary key, as ``first()``), or
    None.

    ``where`` is a literal condition on column names with ``%s`` placeholders for
    ``params`` (never text from a request). ``lock``: see ``for_update``. An integer
    parameter beyond 64 bits (an id from a request) matches nothing, as in the ORM,
    instead of failing in the database driver.
    """
    if any(isinstance(p, int) and p not in _INT64 for p in params):
        return None
    meta = model._meta
    suffix = for_update() if lock else ""
    rows = model.objects.raw(
        f"SELECT * FROM {meta.db_table} WHERE {where} ORDER BY {meta.pk.column} LIMIT 1{suffix}",  # noqa: S608
        params,
    )
    return next(iter(rows), None)
