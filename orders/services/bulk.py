"""Many rows of one model inserted at once: COPY on PostgreSQL, ``bulk_create`` elsewhere.

A batch of order updates inserts a fill and two events per update, each carrying the
venue's payload. ``bulk_create`` sends an INSERT whose parameters psycopg quotes into the
statement's text in Python (Django uses client-side binding) - for its INSERT ... UNNEST,
every JSON document escaped inside an array literal. COPY streams the same rows, each
value prepared by the model's own fields as ``bulk_create`` prepares it, in about half
the time.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.db import models, transaction


def copy_insert(objs: Sequence[models.Model], *, ids: bool = True) -> None:
    """Insert ``objs`` (new instances of one model with an auto-increment id) as
    ``bulk_create(objs)`` would.

    On PostgreSQL one COPY; with ``ids``, the ids are first taken from the table's
    sequence in one statement (in order, so the rows keep the order of ``objs``, as one
    INSERT gives them) and every object has its id and counts as saved afterwards.
    ``ids=False`` saves that statement where nothing reads the objects again. Constraints
    and foreign keys are checked as for an INSERT; an error fails the caller's
    transaction the same way and leaves the objects unsaved.
    """
    if not objs:
        return
    model = type(objs[0])
    connection = transaction.get_connection()
    if (
        connection.vendor != "postgresql"
        or len(objs) == 1
        or not isinstance(model._meta.pk, models.AutoField)
    ):
        model.objects.bulk_create(objs)
        return
    meta = model._meta
    fields = [f for f in meta.concrete_fields if ids or f is not meta.pk]
    quote = connection.ops.quote_name
    table = quote(meta.db_table)
    # Names from the model's metadata; the rows go as data.
    copy_sql = f"COPY {table} ({', '.join(quote(f.column) for f in fields)}) FROM STDIN"
    # Django wraps a cursor's execute, not its copy: errors come out as Django's here too.
    with connection.wrap_database_errors, connection.cursor() as cursor:
        if ids:
            cursor.execute(
                "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
                [table, meta.pk.column, len(objs)],
            )
            for obj, pk in zip(objs, sorted(row[0] for row in cursor.fetchall()), strict=True):
                obj.pk = pk
        try:
            with cursor.copy(copy_sql) as copy:
                for obj in objs:
                    # As bulk_create: take the id of a related object saved after this one
                    # was built (a fill's, on its event), refuse one that was never saved.
                    obj._prepare_related_fields_for_save(operation_name="bulk_create")
                    copy.write_row(
                        [f.get_db_prep_save(f.pre_save(obj, add=True), connection) for f in fields]
                    )
        except BaseException:
            if ids:
                for obj in objs:
                    obj.pk = None
            raise
    if ids:
        for obj in objs:
            obj._state.adding = False
            obj._state.db = connection.alias
