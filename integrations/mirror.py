"""Writing the resident mirror: whole snapshots through a staging table, and differences.

A snapshot is streamed into a staging table (PostgreSQL ``COPY``; SQLite ``executemany``) as it is validated, so
memory stays flat in file size. Duplicate 宛名番号 are found there with SQL. Only a file without problems
replaces the mirror, atomically: on PostgreSQL the staging table gets the live table's indexes and the two swap
names in a transaction that locks the live table only for the renames; on SQLite one transaction deletes and
copies. A search sees either the old mirror or the new one, never a mix.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable, Sequence
from operator import itemgetter
from typing import Any

from django.db import connection, transaction

from .juki_import import parse_date
from .layouts import DATE_FIELDS, FLAG_FIELDS, TEXT_FIELDS
from .models import Resident
from .search_keys import address_key, kana_key, name_key

TABLE = Resident._meta.db_table
STAGING = f"{TABLE}_load"
COLUMNS: tuple[str, ...] = tuple(str(f.column) for f in Resident._meta.concrete_fields)
_TEXTS = itemgetter(*TEXT_FIELDS)
_DATES = itemgetter(*DATE_FIELDS)
_FLAGS = itemgetter(*FLAG_FIELDS)
# The order resident_values assembles values in, and where each database column finds its value there.
_ASSEMBLED = (*TEXT_FIELDS.values(), *DATE_FIELDS.values(), *FLAG_FIELDS.values(),
              "atena_no", "setai_no", "kana_key", "kanji_key", "address_key")  # fmt: skip
_IN_COLUMN_ORDER = itemgetter(*(_ASSEMBLED.index(column) for column in COLUMNS))


def _date(value: str) -> dt.date | None:
    return parse_date(value) if value else None


def resident_values(row: dict[str, str]) -> tuple[Any, ...]:
    """A canonical row as database values, in COLUMNS order, with its derived search keys."""
    assembled = (
        *_TEXTS(row), *map(_date, _DATES(row)), *(flag == "1" for flag in _FLAGS(row)),
        row["宛名番号"], row["世帯番号"],
        kana_key(row["氏カナ"] + row["名カナ"] or row["英字氏名"])[:200],
        name_key(row["氏"] + row["名"] or row["英字氏名"])[:200],
        address_key(row["住所"] + row["方書"])[:300],
    )  # fmt: skip
    return tuple(_IN_COLUMN_ORDER(assembled))


class SnapshotLoad:
    """One snapshot on its way in. Use inside ``transaction.atomic()``: ``add`` every row, check
    ``duplicates``, then ``replace`` the mirror (or let the transaction roll back)."""

    def __init__(self) -> None:
        self.rows = 0
        self._postgres = connection.vendor == "postgresql"
        self._cursor = connection.cursor()
        self._copy: Any = None
        self._batch: list[tuple[Any, ...]] = []
        quoted = ", ".join(COLUMNS)
        if self._postgres:
            self._cursor.execute(f"DROP TABLE IF EXISTS {STAGING}")
            self._cursor.execute(
                f"CREATE TABLE {STAGING} (LIKE {TABLE} INCLUDING DEFAULTS INCLUDING CONSTRAINTS, line integer)"
            )
            # FREEZE (the table is new in this transaction): rows arrive frozen and all-visible, so index-only
            # scans work from the first search after the swap, with no VACUUM over millions of rows.
            self._copy_cm = self._cursor.cursor.copy(f"COPY {STAGING} ({quoted}, line) FROM STDIN (FREEZE)")
            self._copy = self._copy_cm.__enter__()
        else:
            self._cursor.execute(f"DROP TABLE IF EXISTS temp.{STAGING}")
            self._cursor.execute(f"CREATE TEMP TABLE {STAGING} AS SELECT *, 0 AS line FROM {TABLE} WHERE 0")
            placeholders = ", ".join(["%s"] * (len(COLUMNS) + 1))
            self._insert = f"INSERT INTO temp.{STAGING} ({quoted}, line) VALUES ({placeholders})"

    def add(self, line: int, row: dict[str, str]) -> None:
        record = (*resident_values(row), line)
        self.rows += 1
        if self._copy is not None:
            self._copy.write_row(record)
            return
        self._batch.append(record)
        if len(self._batch) >= 5000:
            self._flush()

    def _flush(self) -> None:
        if self._batch:
            self._cursor.executemany(self._insert, self._batch)
            self._batch = []

    def _finish_input(self) -> None:
        if self._copy is not None:
            self._copy_cm.__exit__(None, None, None)
            self._copy = None
        self._flush()

    def _staging(self) -> str:
        return STAGING if self._postgres else f"temp.{STAGING}"

    def duplicates(self, limit: int) -> tuple[int, list[tuple[str, list[int]]]]:
        """How many 宛名番号 appear more than once, and up to ``limit`` of them with their rows."""
        self._finish_input()
        table = self._staging()
        self._cursor.execute(
            f"SELECT atena_no, line FROM {table} WHERE atena_no IN "
            f"(SELECT atena_no FROM {table} GROUP BY atena_no HAVING COUNT(*) > 1) ORDER BY atena_no, line"
        )
        found: dict[str, list[int]] = {}
        for atena, line in self._cursor.fetchall():
            found.setdefault(atena, []).append(line)
        return len(found), list(found.items())[:limit]

    def replace(self) -> None:
        """Make the staged rows the mirror. Must run inside the caller's transaction."""
        self._finish_input()
        if self._postgres:
            _postgres_swap(self._cursor)
        else:
            columns = ", ".join(COLUMNS)
            self._cursor.execute(f"DELETE FROM {TABLE}")
            self._cursor.execute(f"INSERT INTO {TABLE} ({columns}) SELECT {columns} FROM temp.{STAGING}")
            self._cursor.execute(f"DROP TABLE temp.{STAGING}")
        self._cursor.close()

    def discard(self) -> None:
        """Drop the staging table (the caller's rollback does the same; this frees it at once)."""
        try:
            self._finish_input()
        finally:
            self._cursor.execute(f"DROP TABLE IF EXISTS {self._staging()}")
            self._cursor.close()


def _short(prefix: str, name: str) -> str:
    return f"{prefix}_{hashlib.md5(name.encode(), usedforsecurity=False).hexdigest()[:24]}"


def _postgres_swap(cursor: Any) -> None:
    """Give the staging table the live table's constraints and indexes, then swap the two tables' names."""
    cursor.execute(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE conrelid = %s::regclass AND contype IN ('p', 'u')",
        [TABLE],
    )
    constraints = cursor.fetchall()
    cursor.execute(
        "SELECT i.relname, pg_get_indexdef(i.oid) FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid "
        "WHERE x.indrelid = %s::regclass AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.oid)",
        [TABLE],
    )
    indexes = cursor.fetchall()
    cursor.execute(
        "SELECT attname, attstattarget FROM pg_attribute WHERE attrelid = %s::regclass AND attstattarget > 0",
        [TABLE],
    )
    for column, target in cursor.fetchall():  # per-column statistics targets, which LIKE does not copy
        cursor.execute(f"ALTER TABLE {STAGING} ALTER COLUMN {column} SET STATISTICS {int(target)}")
    cursor.execute(f"ALTER TABLE {STAGING} DROP COLUMN line")
    # Index builds sort the whole table: give them memory for this transaction only (default is 64 MB).
    cursor.execute("SET LOCAL maintenance_work_mem = '256MB'")
    for name, definition in constraints:
        cursor.execute(f"ALTER TABLE {STAGING} ADD CONSTRAINT {_short('ld', name)} {definition}")
    for name, definition in indexes:
        head, _, tail = definition.partition(" ON ")
        cursor.execute(f"{head.replace(name, _short('ld', name))} ON {tail.replace(TABLE, STAGING, 1)}")
    cursor.execute(f"ANALYZE {STAGING}")
    # The only moment searches wait: the renames, in this transaction, after the work above.
    cursor.execute(f"LOCK TABLE {TABLE} IN ACCESS EXCLUSIVE MODE")
    old = f"{TABLE}_old"
    cursor.execute(f"DROP TABLE IF EXISTS {old}")
    for name, _ in constraints:
        cursor.execute(f"ALTER TABLE {TABLE} RENAME CONSTRAINT {name} TO {_short('old', name)}")
    for name, _ in indexes:
        cursor.execute(f"ALTER INDEX {name} RENAME TO {_short('old', name)}")
    cursor.execute(f"ALTER TABLE {TABLE} RENAME TO {old}")
    cursor.execute(f"ALTER TABLE {STAGING} RENAME TO {TABLE}")
    for name, _ in constraints:
        cursor.execute(f"ALTER TABLE {TABLE} RENAME CONSTRAINT {_short('ld', name)} TO {name}")
    for name, _ in indexes:
        cursor.execute(f"ALTER INDEX {_short('ld', name)} RENAME TO {name}")
    cursor.execute(f"DROP TABLE {old}")


def diff_apply(
    *, added: Sequence[dict[str, str]], changed: Sequence[dict[str, str]], removed: Iterable[str]
) -> None:
    """Apply a validated difference in one transaction: 消除 and 変更 remove the old rows, 追加 and 変更 insert."""
    with transaction.atomic():
        gone = [*removed, *(row["宛名番号"] for row in changed)]
        for start in range(0, len(gone), 500):
            Resident.objects.filter(atena_no__in=gone[start : start + 500]).delete()
        fresh = [*added, *changed]
        if fresh:
            columns = ", ".join(COLUMNS)
            placeholders = ", ".join(["%s"] * len(COLUMNS))
            with connection.cursor() as cursor:
                cursor.executemany(
                    f"INSERT INTO {TABLE} ({columns}) VALUES ({placeholders})",
                    [resident_values(row) for row in fresh],
                )


def residents_existing(atena_nos: Sequence[str]) -> set[str]:
    """Which of these 宛名番号 are in the mirror now."""
    found: set[str] = set()
    for start in range(0, len(atena_nos), 500):
        found.update(
            Resident.objects.filter(atena_no__in=atena_nos[start : start + 500]).values_list(
                "atena_no", flat=True
            )
        )
    return found
