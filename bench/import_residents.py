"""Benchmark: importing a 住民記録 v1 full snapshot, against a raw bulk insert of the same rows in the same run.

Prints rows/s for: parsing + validation alone, the whole import (validation + atomic replace), and the baseline
(PostgreSQL COPY into an unindexed table, or SQLite executemany), and the ratio import / baseline.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _prepare_database() -> None:
    url = os.environ.get("DATABASE_URL", "")
    if url.startswith("postgres"):
        import psycopg

        base, name = url.rsplit("/", 1)
        with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
            if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
                conn.execute(f'CREATE DATABASE "{name}"')
    else:
        folder = ROOT / "var" / "bench"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "bench.sqlite3"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        os.environ["DATABASE_URL"] = f"sqlite:///{path}"


def _baseline(rows: list[dict[str, str]], columns: tuple[str, ...]) -> float:
    """Seconds to bulk-insert the same rows as text into a plain table, with the driver's fastest path."""
    from django.db import connection, transaction

    names = [f"c{i}" for i in range(len(columns))]
    values = [[row[c] for c in columns] for row in rows]
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS bench_baseline")
        cursor.execute(f"CREATE TABLE bench_baseline ({', '.join(f'{n} text' for n in names)})")
    start = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            with cursor.copy(f"COPY bench_baseline ({', '.join(names)}) FROM STDIN") as copy:
                for record in values:
                    copy.write_row(record)
        else:
            placeholders = ", ".join("?" * len(names))
            cursor.executemany(f"INSERT INTO bench_baseline VALUES ({placeholders})", values)
    elapsed = time.perf_counter() - start
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE bench_baseline")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--households", type=int, default=4200)
    parser.add_argument(
        "--repeat", type=int, default=3, help="runs of each measurement; the best is reported"
    )
    args = parser.parse_args()

    _prepare_database()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "madoguchi.settings")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from integrations.demo_city import demo_city_csv
    from integrations.juki_import import parse_snapshot
    from integrations.layouts import JUKI_V1_COLUMNS
    from integrations.models import ImportKind
    from integrations.services import residents_import
    from integrations.storage import LocalFolderStorage

    call_command("migrate", verbosity=0)
    data = demo_city_csv(households=args.households)
    rows = parse_snapshot(data, source="bench")
    n = len(rows)

    def best(fn: Callable[[], object]) -> float:
        times = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
        return min(times)

    parse_s = best(lambda: parse_snapshot(data, source="bench"))
    storage = LocalFolderStorage(ROOT / "var" / "bench")
    storage.put("JUKI_20261101090000_000001_FULL.csv", data)
    import_s = best(
        lambda: residents_import(
            storage=storage, key="JUKI_20261101090000_000001_FULL.csv", kind=ImportKind.FULL
        )
    )
    baseline_s = min(_baseline(rows, JUKI_V1_COLUMNS) for _ in range(args.repeat))

    print(
        f"database: {connection.vendor}; rows: {n:,}; file: {len(data) / 1e6:.1f} MB; best of {args.repeat}"
    )
    print(f"  parse + validate        {parse_s:7.3f} s  {n / parse_s:12,.0f} rows/s")
    print(f"  import (whole)          {import_s:7.3f} s  {n / import_s:12,.0f} rows/s")
    label = "COPY" if connection.vendor == "postgresql" else "executemany"
    print(
        f"  baseline (raw {label}){' ' * (11 - len(label))} {baseline_s:7.3f} s  {n / baseline_s:12,.0f} rows/s"
    )
    print(f"  ratio import / baseline: {baseline_s / import_s:.2f}x the baseline's speed")


if __name__ == "__main__":
    main()
