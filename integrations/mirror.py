"""Writing the resident mirror: whole snapshots through a staging table, and differences.

A snapshot is streamed into a staging table (PostgreSQL ``COPY``; SQLite ``executemany``) as it is validated, so
memory stays flat in file size. Duplicate 宛名番号 are found there with SQL. Only a file without problems
replaces the mirror, atomically: on PostgreSQL the staging table gets the live table's indexes and the two swap
names in a transaction that locks the live table only for the renames; on SQLite one transaction deletes and
copies. A search sees either the old mirror or the new one, never a mix.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import struct
from collections.abc import Iterable, Iterator, Sequence
from operator import itemgetter
from typing import Any

from django.db import IntegrityError, connection, transaction

from .juki_import import parse_date
from .layouts import DATE_FIELDS, FLAG_FIELDS, TEXT_FIELDS
from .models import AddressKey, Resident
from .search_keys import address_key, kana_key, name_key

TABLE = Resident._meta.db_table
STAGING = f"{TABLE}_load"
ADDRESS_TABLE = AddressKey._meta.db_table
ADDRESS_STAGING = f"{ADDRESS_TABLE}_load"
COLUMNS: tuple[str, ...] = tuple(str(f.column) for f in Resident._meta.concrete_fields)
_TEXTS = itemgetter(*TEXT_FIELDS)
_DATES = itemgetter(*DATE_FIELDS)
_FLAGS = itemgetter(*FLAG_FIELDS)
# The order resident_values assembles values in, and where each database column finds its value there.
_ASSEMBLED = (*TEXT_FIELDS.values(), *DATE_FIELDS.values(), *FLAG_FIELDS.values(),
              "atena_no", "setai_no", "kana_key", "kanji_key", "address_key", "source_digest")  # fmt: skip
_IN_COLUMN_ORDER = itemgetter(*(_ASSEMBLED.index(column) for column in COLUMNS))


def _date(value: str) -> dt.date | None:
    return parse_date(value) if value else None


def resident_values(row: dict[str, str], digest: bytes) -> tuple[Any, ...]:
    """A canonical row as database values, in COLUMNS order, with its derived search keys and the digest of the
    record it came from (juki_import.RecordDigest; hex, which both PostgreSQL's uuid and SQLite take)."""
    assembled = (
        *_TEXTS(row), *map(_date, _DATES(row)), *(flag == "1" for flag in _FLAGS(row)),
        row["宛名番号"], row["世帯番号"],
        kana_key(row["氏カナ"] + row["名カナ"] or row["英字氏名"])[:200],
        name_key(row["氏"] + row["名"] or row["英字氏名"])[:200],
        address_key(row["住所"] + row["方書"])[:300],
        digest.hex(),
    )  # fmt: skip
    return tuple(_IN_COLUMN_ORDER(assembled))


class SnapshotLoad:
    """One snapshot on its way in. Use inside ``transaction.atomic()``: ``add`` every row, check
    ``duplicates``, then ``replace`` the mirror (or let the transaction roll back).

    ``table``: the staging table's name; ``temporary``: a temporary table that goes with the transaction (the
    rows of a merge, SnapshotMerge), rather than the table that becomes the mirror."""

    def __init__(self, *, table: str = STAGING, temporary: bool = False) -> None:
        self.rows = 0
        self._table = table
        self._postgres = connection.vendor == "postgresql"
        self._cursor = connection.cursor()
        self._copy: Any = None
        self._batch: list[tuple[Any, ...]] = []
        quoted = ", ".join(COLUMNS)
        if self._postgres:
            self._cursor.execute(f"DROP TABLE IF EXISTS {table}")
            self._copy_sql = f"COPY {table} ({quoted}, line) FROM STDIN"
            if temporary:
                # Written in batches, each its own COPY, so the connection is free in between (a merge reads the
                # numbers of its changed lines from a server-side cursor meanwhile).
                self._cursor.execute(
                    f"CREATE TEMP TABLE {table} (LIKE {TABLE} INCLUDING DEFAULTS, line integer) ON COMMIT DROP"
                )
            else:
                self._cursor.execute(
                    f"CREATE TABLE {table} (LIKE {TABLE} INCLUDING DEFAULTS INCLUDING CONSTRAINTS, line integer)"
                )
                # FREEZE (the table is new in this transaction): rows arrive frozen and all-visible, so
                # index-only scans work from the first search after the swap, with no VACUUM over millions of rows.
                self._copy_cm = self._cursor.cursor.copy(f"{self._copy_sql} (FREEZE)")
                self._copy = self._copy_cm.__enter__()
        else:
            self._cursor.execute(f"DROP TABLE IF EXISTS temp.{table}")
            self._cursor.execute(f"CREATE TEMP TABLE {table} AS SELECT *, 0 AS line FROM {TABLE} WHERE 0")
            placeholders = ", ".join(["%s"] * (len(COLUMNS) + 1))
            self._insert = f"INSERT INTO temp.{table} ({quoted}, line) VALUES ({placeholders})"

    def add(self, line: int, row: dict[str, str], digest: bytes) -> None:
        record = (*resident_values(row, digest), line)
        self.rows += 1
        if self._copy is not None:
            self._copy.write_row(record)
            return
        self._batch.append(record)
        if len(self._batch) >= 5000:
            self._flush()

    def _flush(self) -> None:
        if not self._batch:
            return
        if self._postgres:
            with self._cursor.cursor.copy(self._copy_sql) as copy:
                for record in self._batch:
                    copy.write_row(record)
        else:
            self._cursor.executemany(self._insert, self._batch)
        self._batch = []

    def _finish_input(self) -> None:
        if self._copy is not None:
            self._copy_cm.__exit__(None, None, None)
            self._copy = None
        self._flush()

    def _staging(self) -> str:
        return self._table if self._postgres else f"temp.{self._table}"

    def finish(self) -> str:
        """End the input; the staging table's name, to read it with SQL."""
        self._finish_input()
        return self._staging()

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
            self._cursor.execute(f"DELETE FROM {ADDRESS_TABLE}")
            _address_keys_add(self._cursor, TABLE)
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


Swap = tuple[str, str, list[tuple[str, str]], list[tuple[str, str]]]


def _postgres_prepare(cursor: Any, table: str, staging: str) -> Swap:
    """Give ``staging`` the live ``table``'s constraints, indexes and statistics targets (the heavy part, while
    searches still run on the live table); what _postgres_rename needs."""
    cursor.execute(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE conrelid = %s::regclass AND contype IN ('p', 'u')",
        [table],
    )
    constraints = cursor.fetchall()
    cursor.execute(
        "SELECT i.relname, pg_get_indexdef(i.oid) FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid "
        "WHERE x.indrelid = %s::regclass AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.oid)",
        [table],
    )
    indexes = cursor.fetchall()
    cursor.execute(
        "SELECT attname, attstattarget FROM pg_attribute WHERE attrelid = %s::regclass AND attstattarget > 0",
        [table],
    )
    for column, target in cursor.fetchall():  # per-column statistics targets, which LIKE does not copy
        cursor.execute(f"ALTER TABLE {staging} ALTER COLUMN {column} SET STATISTICS {int(target)}")
    # Index builds sort the whole table: give them memory for this transaction only (default is 64 MB).
    cursor.execute("SET LOCAL maintenance_work_mem = '256MB'")
    for name, definition in constraints:
        cursor.execute(f"ALTER TABLE {staging} ADD CONSTRAINT {_short('ld', name)} {definition}")
    for name, definition in indexes:
        head, _, tail = definition.partition(" ON ")
        cursor.execute(f"{head.replace(name, _short('ld', name))} ON {tail.replace(table, staging, 1)}")
    cursor.execute(f"ANALYZE {staging}")
    return table, staging, constraints, indexes


def _postgres_rename(cursor: Any, swaps: Sequence[Swap]) -> None:
    """Swap each staging table in for its live table, constraints and indexes by name. The only moment searches
    wait: the tables are locked in one statement, in the order a search takes them (the mirror, then the address
    keys), so a search that holds one cannot wait for the other."""
    cursor.execute(f"LOCK TABLE {', '.join(table for table, *_ in swaps)} IN ACCESS EXCLUSIVE MODE")
    for table, staging, constraints, indexes in swaps:
        old = f"{table}_old"
        cursor.execute(f"DROP TABLE IF EXISTS {old}")
        for name, _ in constraints:
            cursor.execute(f"ALTER TABLE {table} RENAME CONSTRAINT {name} TO {_short('old', name)}")
        for name, _ in indexes:
            cursor.execute(f"ALTER INDEX {name} RENAME TO {_short('old', name)}")
        cursor.execute(f"ALTER TABLE {table} RENAME TO {old}")
        cursor.execute(f"ALTER TABLE {staging} RENAME TO {table}")
        for name, _ in constraints:
            cursor.execute(f"ALTER TABLE {table} RENAME CONSTRAINT {_short('ld', name)} TO {name}")
        for name, _ in indexes:
            cursor.execute(f"ALTER INDEX {_short('ld', name)} RENAME TO {name}")
        cursor.execute(f"DROP TABLE {old}")


def _postgres_swap(cursor: Any) -> None:
    """Make the staging table the mirror and its distinct address keys the dictionary, in the caller's
    transaction."""
    cursor.execute(f"ALTER TABLE {STAGING} DROP COLUMN line")
    cursor.execute(f"DROP TABLE IF EXISTS {ADDRESS_STAGING}")
    cursor.execute(f"CREATE TABLE {ADDRESS_STAGING} (LIKE {ADDRESS_TABLE} INCLUDING DEFAULTS)")
    # In no particular order (md5): the keys a fragment matches are then spread over the table, not together,
    # which is what the planner assumes when it weighs reading the table against the trigram index.
    cursor.execute(
        f"INSERT INTO {ADDRESS_STAGING} (key) "
        f"SELECT key FROM (SELECT DISTINCT address_key AS key FROM {STAGING}) d ORDER BY md5(key)"
    )
    swaps = [
        _postgres_prepare(cursor, TABLE, STAGING),
        _postgres_prepare(cursor, ADDRESS_TABLE, ADDRESS_STAGING),
    ]
    _postgres_rename(cursor, swaps)


# --- the address-key dictionary (AddressKey) ------------------------------------------------------------------


def _address_keys_add(cursor: Any, source: str) -> None:
    """Every address key of the resident rows in ``source`` that the dictionary lacks."""
    cursor.execute(
        f"INSERT INTO {ADDRESS_TABLE} (key) SELECT DISTINCT s.address_key FROM {source} s "
        f"WHERE NOT EXISTS (SELECT 1 FROM {ADDRESS_TABLE} k WHERE k.key = s.address_key)"
    )


def _address_keys_prune(cursor: Any, candidates: str) -> None:
    """Remove the keys among ``candidates`` (a query of one column) that no resident has any more."""
    cursor.execute(
        f"DELETE FROM {ADDRESS_TABLE} WHERE key IN ({candidates}) "
        f"AND NOT EXISTS (SELECT 1 FROM {TABLE} r WHERE r.address_key = {ADDRESS_TABLE}.key)"
    )


def diff_apply(
    *,
    added: Sequence[tuple[dict[str, str], bytes]],
    changed: Sequence[tuple[dict[str, str], bytes]],
    removed: Iterable[str],
) -> None:
    """Apply a validated difference in one transaction: 消除 and 変更 remove the old rows, 追加 and 変更 insert
    (each row with its record's digest); the address-key dictionary follows."""
    with transaction.atomic():
        gone = [*removed, *(row["宛名番号"] for row, _digest in changed)]
        old_keys: set[str] = set()
        for start in range(0, len(gone), 500):
            batch = Resident.objects.filter(atena_no__in=gone[start : start + 500])
            old_keys.update(batch.values_list("address_key", flat=True))
            batch.delete()
        fresh = [resident_values(row, digest) for row, digest in [*added, *changed]]
        if fresh:
            columns = ", ".join(COLUMNS)
            placeholders = ", ".join(["%s"] * len(COLUMNS))
            with connection.cursor() as cursor:
                cursor.executemany(f"INSERT INTO {TABLE} ({columns}) VALUES ({placeholders})", fresh)
        address = COLUMNS.index("address_key")
        new_keys = sorted({values[address] for values in fresh})
        for start in range(0, len(new_keys), 500):
            batch_keys = new_keys[start : start + 500]
            known = set(AddressKey.objects.filter(key__in=batch_keys).values_list("key", flat=True))
            AddressKey.objects.bulk_create([AddressKey(key=key) for key in batch_keys if key not in known])
        stale = sorted(old_keys)
        for start in range(0, len(stale), 500):
            batch_keys = stale[start : start + 500]
            used = set(
                Resident.objects.filter(address_key__in=batch_keys).values_list("address_key", flat=True)
            )
            AddressKey.objects.filter(key__in=[key for key in batch_keys if key not in used]).delete()


def residents_present() -> bool:
    """Whether the mirror holds anyone (a snapshot is then merged rather than loaded whole)."""
    return Resident.objects.exists()


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


class MergeRefused(Exception):
    """The snapshot was not applied as a merge (too much changed, or something only the full import can judge
    and report); the transaction must roll back and the full import read the file. The message says why."""


_COPY_BINARY_HEADER = b"PGCOPY\n\xff\r\n\x00" + bytes(8)
_SCAN_ROW = struct.Struct(">hiqi16s")


class SnapshotMerge:
    """A full snapshot applied as the difference it makes to the mirror: only added, changed and removed residents
    are written, in one short transaction at the end; everything else stays as it is, indexes and all.

    A record whose digest (juki_import.RecordDigest) equals a stored resident's is byte for byte the record that
    resident was imported from, read under the same rules (the digest is keyed by them): it was validated then and
    would be stored exactly the same, so it is neither parsed nor written again. Every other line is read, checked
    and stored as in the full import. Use inside ``transaction.atomic()``:

    1. ``scan(first, digests)`` for every line's digest (pass 1, snapshot_line_digests);
    2. ``delta_lines()``: the numbers of the lines not in the mirror — MergeRefused when more than
       MAX_CHANGED_SHARE of the lines are (the full import rebuilds faster then), or when two lines are identical;
    3. ``add(line, row, digest)`` for each of those lines, read and checked (pass 2);
    4. ``apply()``: removes the residents no line matched, inserts the new rows, and returns (rows, added,
       changed, removed) — MergeRefused when a 宛名番号 appears twice.

    Memory stays flat: digests stream into a temporary table, the changed lines' numbers stream back.
    """

    MAX_CHANGED_SHARE = 0.3
    MIN_CHANGED_ALLOWED = 1000

    def __init__(self) -> None:
        self.lines = 0
        self._postgres = connection.vendor == "postgresql"
        self._cursor = connection.cursor()
        self._copy: Any = None
        self._delta = SnapshotLoad(table="resident_delta", temporary=True)
        self._unchanged = 0
        self._numbers: Any = None
        prefix = "" if self._postgres else "temp."
        self._scan, self._unmatched = f"{prefix}resident_scan", f"{prefix}resident_unmatched"
        self._old_keys = f"{prefix}resident_old_keys"
        if self._postgres:
            # The hash join over millions of digests wants memory, for this transaction only.
            self._cursor.execute("SET LOCAL work_mem = '256MB'")
            self._cursor.execute("DROP TABLE IF EXISTS resident_scan, resident_unmatched")
            self._cursor.execute(
                "CREATE TEMP TABLE resident_scan (n bigint NOT NULL, d uuid NOT NULL) ON COMMIT DROP"
            )
            self._copy_cm = self._cursor.cursor.copy("COPY resident_scan (n, d) FROM STDIN (FORMAT BINARY)")
            self._copy = self._copy_cm.__enter__()
            self._copy.write(_COPY_BINARY_HEADER)
        else:
            self._cursor.execute("DROP TABLE IF EXISTS temp.resident_scan")
            self._cursor.execute("CREATE TEMP TABLE resident_scan (n integer NOT NULL, d char(32) NOT NULL)")

    def scan(self, first: int, digests: list[bytes]) -> None:
        """The digests of consecutive lines, the first of them line ``first``."""
        self.lines += len(digests)
        if self._copy is not None:
            self._copy.write(b"".join([_SCAN_ROW.pack(2, 8, n, 16, d) for n, d in enumerate(digests, first)]))
        else:
            self._cursor.executemany(
                "INSERT INTO temp.resident_scan (n, d) VALUES (%s, %s)",
                [(n, d.hex()) for n, d in enumerate(digests, first)],
            )

    def delta_lines(self) -> Iterator[int]:
        """The numbers of the lines whose records are not in the mirror as they are, ascending."""
        if self._copy is not None:
            self._copy.write(b"\xff\xff")
            self._copy_cm.__exit__(None, None, None)
            self._copy = None
        cursor = self._cursor
        if self._postgres:
            cursor.execute(
                f"CREATE TEMP TABLE resident_unmatched ON COMMIT DROP AS SELECT s.n, r.atena_no AS gone "
                f"FROM resident_scan s FULL JOIN {TABLE} r ON r.source_digest = s.d "
                f"WHERE s.n IS NULL OR r.atena_no IS NULL"
            )
        else:
            cursor.execute("DROP TABLE IF EXISTS temp.resident_unmatched")
            cursor.execute("CREATE TEMP TABLE resident_unmatched (n integer, gone varchar(20))")
            cursor.execute("CREATE INDEX temp.resident_scan_d ON resident_scan (d)")
            # Joins, not correlated NOT EXISTS: SQLite then builds a transient index on the digest instead of
            # reading the whole mirror once per line.
            cursor.execute(
                f"INSERT INTO temp.resident_unmatched (n) SELECT s.n FROM temp.resident_scan s "
                f"LEFT JOIN {TABLE} r ON r.source_digest = s.d WHERE r.atena_no IS NULL"
            )
            cursor.execute(
                f"INSERT INTO temp.resident_unmatched (gone) SELECT r.atena_no FROM {TABLE} r "
                f"LEFT JOIN temp.resident_scan s ON s.d = r.source_digest WHERE s.n IS NULL"
            )
        cursor.execute(f"SELECT count(n), count(gone) FROM {self._unmatched}")
        new_lines, gone = cursor.fetchone()
        cursor.execute(f"SELECT count(*) FROM {TABLE}")
        (stored,) = cursor.fetchone()
        self._unchanged = self.lines - new_lines
        if self._unchanged != stored - gone:
            # Each stored resident matches at most one line unless lines repeat: a 宛名番号 twice in the file.
            raise MergeRefused("some lines appear twice in the file")
        if new_lines > max(self.MIN_CHANGED_ALLOWED, self.MAX_CHANGED_SHARE * self.lines):
            raise MergeRefused(f"{new_lines} of {self.lines} lines are new or changed")
        self._numbers = numbers = connection.chunked_cursor()
        numbers.execute(f"SELECT n FROM {self._unmatched} WHERE n IS NOT NULL ORDER BY n")
        return (n for (n,) in numbers)

    def _numbers_close(self) -> None:
        """Close the server-side cursor of the line numbers (an open one would keep COPY FREEZE, which the full
        import uses, from running later in the same transaction)."""
        if self._numbers is not None:
            numbers, self._numbers = self._numbers, None
            with contextlib.suppress(Exception):
                numbers.close()

    def add(self, line: int, row: dict[str, str], digest: bytes) -> None:
        """A new or changed line's row, read and checked."""
        self._delta.add(line, row, digest)

    def apply(self) -> tuple[int, int, int, int]:
        """Write the difference: (rows in the snapshot, added, changed, removed)."""
        self._numbers_close()
        cursor = self._cursor
        delta = self._delta.finish()
        cursor.execute(
            f"SELECT count(*) FROM (SELECT atena_no FROM {delta} GROUP BY atena_no HAVING count(*) > 1) twice"
        )
        if cursor.fetchone()[0]:
            raise MergeRefused("a 宛名番号 appears twice among the new and changed lines")
        cursor.execute(
            f"SELECT count(*), count(u.gone) FROM {delta} d LEFT JOIN {self._unmatched} u ON u.gone = d.atena_no"
        )
        fresh, changed = cursor.fetchone()
        cursor.execute(f"SELECT count(gone) FROM {self._unmatched}")
        (gone,) = cursor.fetchone()
        columns = ", ".join(COLUMNS)
        gone_rows = f"SELECT gone FROM {self._unmatched} WHERE gone IS NOT NULL"
        try:
            with transaction.atomic():
                cursor.execute(f"DROP TABLE IF EXISTS {self._old_keys}")
                cursor.execute(
                    f"CREATE TEMP TABLE resident_old_keys AS "
                    f"SELECT DISTINCT address_key AS key FROM {TABLE} WHERE atena_no IN ({gone_rows})"
                )
                cursor.execute(f"DELETE FROM {TABLE} WHERE atena_no IN ({gone_rows})")
                cursor.execute(f"INSERT INTO {TABLE} ({columns}) SELECT {columns} FROM {delta}")
                _address_keys_add(cursor, delta)
                _address_keys_prune(cursor, f"SELECT key FROM {self._old_keys}")
                cursor.execute(f"DROP TABLE {self._old_keys}")
        except IntegrityError:
            # A new or changed line's 宛名番号 is also on a line that is unchanged: the file holds it twice.
            raise MergeRefused("a 宛名番号 of a new or changed line is also on an unchanged line") from None
        self._discard()
        return self._unchanged + fresh, fresh - changed, changed, gone - changed

    def _discard(self) -> None:
        if not self._postgres:  # PostgreSQL drops them with the transaction (ON COMMIT DROP, or the rollback)
            self._delta.discard()
            self._cursor.execute("DROP TABLE IF EXISTS temp.resident_scan")
            self._cursor.execute("DROP TABLE IF EXISTS temp.resident_unmatched")
        self._cursor.close()

    def discard(self) -> None:
        """Give up; the caller's transaction must then roll back. An unfinished COPY is aborted."""
        self._numbers_close()
        if self._copy is not None:
            copy, self._copy = self._copy_cm, None
            with contextlib.suppress(Exception):  # the server's answer to the aborted COPY
                copy.__exit__(MergeRefused, MergeRefused("discarded"), None)
        if not self._postgres:
            self._discard()
