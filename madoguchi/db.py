"""Database helpers shared by the apps."""

from __future__ import annotations

from django.db import connection, models


def hold_new_rows(model: type[models.Model]) -> None:
    """Inside a transaction: wait for the transactions that have written to ``model``'s table, and hold back new
    writes until this one ends, so that no row can commit later with an id below the ones this transaction reads
    (PostgreSQL hands out ids before their transactions commit). SQLite runs one writing transaction at a time, so
    an uncommitted id there is always above every committed one: nothing to do."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"LOCK TABLE {model._meta.db_table} IN SHARE ROW EXCLUSIVE MODE")
