"""Reads on the hot paths, written out.

Django builds a query's SQL anew each time it runs; for one row of a model with many
columns that takes longer (about 1 ms on a 2-core machine) than the database takes to
answer (0.2 ms). The few reads that every order or alert makes are fixed statements: a
RawQuerySet builds the instances - the model's own converters applied, deferred loading
and relations as usual - the same objects the ORM would give. ``one_row`` reads one;
``for_update`` and ``columns`` are the pieces the longer written-out reads share.
"""

from __future__ import annotations

from collections.abc import Sequence
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


def upsert(
    model: type[models.Model],
    fields: Sequence[str],
    rows: Sequence[Sequence],
    *,
    unique: Sequence[str],
    update: Sequence[str],
) -> None:
    """Insert ``rows`` (values in the order of ``fields``, as the database driver takes
    them: Decimal, aware datetime, str, bool) and, where a row with the same ``unique``
    columns exists, replace its ``update`` columns.

    PostgreSQL: COPY into a temporary table, then one INSERT ... SELECT ... ON CONFLICT.
    Measured on bench/market_data.py (50,000 candles in pages of 1,000): bulk_create with
    update_conflicts prepares every value through its model field in Python (a decimal
    through a formatting context: 10 values a row, most of the time spent) and stored
    3,500-3,600 rows/s on the loaded 2-core machine; the rows streamed as they are,
    21,800 rows/s there (6x). Elsewhere (SQLite) ``bulk_create(update_conflicts=True)``.
    """
    if not rows:
        return
    connection = transaction.get_connection()
    meta = model._meta
    if connection.vendor != "postgresql":
        model.objects.bulk_create(
            [model(**dict(zip(fields, row, strict=True))) for row in rows],
            update_conflicts=True,
            unique_fields=list(unique),
            update_fields=list(update),
        )
        return
    quote = connection.ops.quote_name
    column = {f.name: f.column for f in meta.concrete_fields}
    names = ", ".join(quote(column[name]) for name in fields)
    staging = quote(f"_upsert_{meta.db_table}_{len(fields)}")
    # Names from the model's metadata; the rows go as data.
    with connection.wrap_database_errors, connection.cursor() as cursor, transaction.atomic():
        # The columns' types only (no constraints), once per connection.
        cursor.execute(
            f"CREATE TEMPORARY TABLE IF NOT EXISTS {staging} ON COMMIT DELETE ROWS AS "  # noqa: S608
            f"SELECT {names} FROM {quote(meta.db_table)} WITH NO DATA"
        )
        with cursor.copy(f"COPY {staging} ({names}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        conflict = ", ".join(quote(column[name]) for name in unique)
        assignments = ", ".join(
            f"{quote(column[name])} = EXCLUDED.{quote(column[name])}" for name in update
        )
        cursor.execute(
            f"INSERT INTO {quote(meta.db_table)} ({names}) SELECT {names} FROM {staging} "  # noqa: S608
            f"ON CONFLICT ({conflict}) DO UPDATE SET {assignments}"
        )
        cursor.execute(f"DELETE FROM {staging}")  # noqa: S608 - a savepoint's commit empties nothing
