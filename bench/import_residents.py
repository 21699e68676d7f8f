"""Benchmark: the resident registry at city scale (PostgreSQL).

For each size: a synthetic 住民記録 v1 snapshot (the demo-city generator, streamed to a file under var/bench/),
imported through the real importer into an empty mirror (a city's first load: streaming validation of every
line, COPY into a staging table, indexes, atomic swap); then the same city's snapshot a day later (1,000 gone,
2,000 moved, 1,000 new) imported into that mirror (merged: every line hashed, only the changed ones read, one short
write). In the same run the raw baseline for each file: ``COPY … FROM STDIN (FORMAT csv)`` of the same file into a
bare table of text columns. Each measurement runs in its own process, so its peak memory (max RSS) is its own.
At the largest size it then applies a 2,000-change difference and times 1,000 mixed searches.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/madoguchi_bench .venv/bin/python bench/import_residents.py
    … --sizes 416120 3800000        (the default)   … --sizes 50000 (a quick look)
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import os
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
BENCH = ROOT / "var" / "bench"
FULL_KEY = "JUKI_{size}_000001_FULL.csv"


def _django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "madoguchi.settings")
    import django

    django.setup()


def _ensure_database() -> None:
    import psycopg

    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgres"):
        raise SystemExit("set DATABASE_URL to a PostgreSQL database the benchmark may drop and create")
    base, name = url.rsplit("/", 1)
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def _generate(size: int) -> Path:
    """Stream ``size`` residents of the synthetic city into var/bench (kept for later runs)."""
    from integrations.demo_city import demo_city_rows
    from integrations.layouts import JUKI_V1_COLUMNS

    path = BENCH / f"juki-{size}.csv"
    if path.exists():
        return path
    BENCH.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".part")
    with tmp.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\r\n")
        writer.writerow(JUKI_V1_COLUMNS)
        rows = demo_city_rows(households=size // 2 + 1000, today=dt.date(2026, 11, 21))
        for count, row in enumerate(rows, start=1):
            writer.writerow([row[c] for c in JUKI_V1_COLUMNS])
            if count == size:
                break
    tmp.replace(path)
    return path


NEXT_DAY_MOVED_AWAY, NEXT_DAY_MOVED, NEXT_DAY_MOVED_IN = 1_000, 2_000, 1_000


def _next_day(path: Path) -> Path:
    """The same city's snapshot a day later (kept in var/bench): 1,000 residents moved away or died (their lines
    gone), 2,000 moved within the city (address and 異動事由 changed), 1,000 moved in (new lines at the end) — a
    busy day for the largest city (Yokohama: about 2,000 moves a day)."""
    from integrations.layouts import JUKI_V1_COLUMNS
    from madoguchi.moji.checkdigit import with_check_digit

    target = path.with_name(path.stem + "-next.csv")
    if target.exists():
        return target
    with path.open("rb") as handle:
        lines = sum(1 for _ in handle) - 1
    rng = random.Random(21)
    chosen = rng.sample(range(2, lines + 2), NEXT_DAY_MOVED_AWAY + NEXT_DAY_MOVED)
    gone, moved = set(chosen[:NEXT_DAY_MOVED_AWAY]), set(chosen[NEXT_DAY_MOVED_AWAY:])
    column = {name: i for i, name in enumerate(JUKI_V1_COLUMNS)}
    tmp = target.with_suffix(".part")
    template: list[str] = []
    with (
        path.open(encoding="utf-8", newline="") as source,
        tmp.open("w", encoding="utf-8", newline="") as out,
    ):
        writer = csv.writer(out, lineterminator="\r\n")
        for number, line in enumerate(source, start=1):
            if number == 2:
                template = next(csv.reader([line]))
            if number in gone:
                continue
            if number in moved:
                row = next(csv.reader([line]))
                row[column["住所"]] = (
                    f"窓口市新町{rng.randint(1, 9)}丁目{rng.randint(1, 40)}番{rng.randint(1, 20)}号"
                )
                row[column["方書"]] = ""
                row[column["異動事由"]], row[column["異動年月日"]] = "転居", "2026-11-22"
                row[column["更新日時"]] = "2026-11-22T10:00:00+09:00"
                writer.writerow(row)
                continue
            out.write(line)
        for n in range(NEXT_DAY_MOVED_IN):
            row = list(template)
            row[column["宛名番号"]] = with_check_digit(f"{800_000_000 + n:09d}", ten="0")
            row[column["世帯番号"]] = with_check_digit(f"{700_000_000 + n:09d}", ten="0")
            row[column["異動事由"]], row[column["異動年月日"]] = "転入", "2026-11-22"
            writer.writerow(row)
    tmp.replace(target)
    return target


def _peak_mb() -> float:
    """This process's peak resident memory. (Not ru_maxrss: Linux carries it across execve, so a child would
    report its parent's peak.)"""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


# --- measurements, each in a child process ---------------------------------------------------------------


def child_copy(path: Path) -> dict[str, float]:
    _django()
    from django.db import connection

    from integrations.layouts import JUKI_V1_COLUMNS

    columns = ", ".join(f"c{i} text" for i in range(len(JUKI_V1_COLUMNS)))
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS bench_copy")
        cursor.execute(f"CREATE TABLE bench_copy ({columns})")
        start = time.perf_counter()
        with (
            path.open("rb") as handle,
            cursor.copy("COPY bench_copy FROM STDIN (FORMAT csv, HEADER true)") as copy,
        ):
            while chunk := handle.read(1 << 20):
                copy.write(chunk)
        seconds = time.perf_counter() - start
        # The like-for-like baseline: the same indexes the mirror needs for search, built on the bare table from
        # the raw columns (宛名番号, 世帯番号, 生年月日, カナ氏名, 氏名, 住所+方書), and the same dictionary of
        # distinct addresses with its trigram index (integrations.models.AddressKey).
        col = {name: f"c{i}" for i, name in enumerate(JUKI_V1_COLUMNS)}
        address = f"(coalesce({col['住所']}, '') || coalesce({col['方書']}, ''))"  # COPY reads an empty cell as NULL
        cursor.execute("SET maintenance_work_mem = '256MB'")
        for statement in (
            f"ALTER TABLE bench_copy ADD PRIMARY KEY ({col['宛名番号']})",
            f"CREATE INDEX ON bench_copy ({col['世帯番号']})",
            f"CREATE INDEX ON bench_copy ({col['生年月日']})",
            f'CREATE INDEX ON bench_copy (({col["氏カナ"]} || {col["名カナ"]}) COLLATE "C", {col["宛名番号"]})',
            f'CREATE INDEX ON bench_copy (({col["氏"]} || {col["名"]}) COLLATE "C", {col["宛名番号"]})',
            f"CREATE INDEX ON bench_copy ({address})",
            "DROP TABLE IF EXISTS bench_copy_keys",
            f"CREATE TABLE bench_copy_keys AS SELECT DISTINCT {address} AS key FROM bench_copy",
            "ALTER TABLE bench_copy_keys ADD PRIMARY KEY (key)",
            "CREATE INDEX ON bench_copy_keys USING gin (key gin_trgm_ops)",
        ):
            cursor.execute(statement)
        indexed = time.perf_counter() - start
        cursor.execute("DROP TABLE bench_copy")
        cursor.execute("DROP TABLE bench_copy_keys")
    return {"seconds": seconds, "indexed_seconds": indexed, "peak_mb": _peak_mb()}


def child_import(path: Path) -> dict[str, Any]:
    """The snapshot imported into the mirror as it is (the next day's snapshot: merged into yesterday's)."""
    _django()
    from integrations.models import ImportKind
    from integrations.services import residents_import
    from integrations.storage import LocalFolderStorage

    start = time.perf_counter()
    result = residents_import(storage=LocalFolderStorage(path.parent), key=path.name, kind=ImportKind.FULL)
    return {
        "seconds": time.perf_counter() - start,
        "peak_mb": _peak_mb(),
        "rows": result.rows,
        "changes": f"{result.added} added, {result.changed} changed, {result.removed} removed",
    }


def child_first_import(path: Path) -> dict[str, Any]:
    """The snapshot imported into an empty mirror (a city's first load): every line read and checked."""
    _django()
    from integrations.models import Resident

    Resident.objects.all().delete()
    return child_import(path)


def child_diff(path: Path) -> dict[str, float]:
    """A 2,000-change difference against the loaded mirror: 700 追加, 1,000 変更, 300 消除."""
    _django()
    from integrations.layouts import JUKI_V1_COLUMNS
    from integrations.models import ImportKind, Resident
    from integrations.services import residents_import
    from integrations.storage import LocalFolderStorage
    from madoguchi.moji.checkdigit import with_check_digit

    rng = random.Random(7)
    sample = list(Resident.objects.order_by("?").values_list("atena_no", flat=True)[:1300])
    with path.open(encoding="utf-8", newline="") as handle:
        first_row = next(csv.reader([handle.readlines(4096)[1]]))
    template = dict(zip(JUKI_V1_COLUMNS, first_row, strict=True))
    rows = []
    for n in range(700):
        atena = with_check_digit(f"{900_000_000 + n:09d}", ten="0")
        rows.append({**template, "処理区分": "1", "宛名番号": atena, "氏": "追加"})
    for atena in sample[:1000]:
        rows.append(
            {**template, "処理区分": "2", "宛名番号": atena, "住所": f"窓口市変更町{rng.randint(1, 99)}番"}
        )
    for atena in sample[1000:]:
        rows.append({**template, "処理区分": "3", "宛名番号": atena})
    diff = path.parent / "JUKI_20261121100000_000002_DIFF.csv"
    with diff.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\r\n")
        writer.writerow(["処理区分", *JUKI_V1_COLUMNS])
        writer.writerows([[row[c] for c in ("処理区分", *JUKI_V1_COLUMNS)] for row in rows])
    start = time.perf_counter()
    result = residents_import(storage=LocalFolderStorage(diff.parent), key=diff.name, kind=ImportKind.DIFF)
    return {"seconds": time.perf_counter() - start, "rows": result.rows, "peak_mb": _peak_mb()}


def child_search(path: Path) -> dict[str, Any]:
    """1,000 searches as clerks type them, through the real (audited) search, each timed."""
    _django()
    from intake.selectors import ResidentQuery, resident_search
    from integrations.models import Resident
    from madoguchi.moji.wareki import era_of

    rng = random.Random(11)
    people = list(
        Resident.objects.order_by("?").values_list(
            "atena_no", "shi", "mei", "shi_kana", "birth_date", "address"
        )[:400]
    )

    def typed_birth(day: dt.date) -> str:
        era, year = era_of(day)
        return rng.choice(
            [
                f"{era.letter}{year}.{day.month}.{day.day}",
                day.isoformat(),
                f"{era.digit}{year:02d}{day.month:02d}{day.day:02d}",
            ]
        )

    queries = []
    for _ in range(1000):
        atena, shi, mei, kana, birth, address = rng.choice(people)
        kind = rng.randrange(6)
        if kind == 0:
            queries.append(ResidentQuery(atena_no=atena))
        elif kind == 1:
            queries.append(ResidentQuery(name=kana))
        elif kind == 2:
            queries.append(ResidentQuery(name=f"{shi} {mei}".strip() or kana))
        elif kind == 3:
            queries.append(ResidentQuery(name=kana[:2], birth=typed_birth(birth)))
        elif kind == 4:
            start = rng.randrange(max(1, len(address) - 6))
            queries.append(ResidentQuery(address=address[start : start + 6]))
        else:
            queries.append(ResidentQuery(birth=typed_birth(birth)))
    timed: list[tuple[float, str]] = []
    for query in queries:
        began = time.perf_counter()
        page = resident_search(actor=None, query=query)
        list(page.object_list)
        timed.append(((time.perf_counter() - began) * 1000, ",".join(query.kinds())))
    timed.sort()
    timings = [ms for ms, _ in timed]
    slowest = "; ".join(f"{kinds} {ms:.0f} ms" for ms, kinds in timed[-3:])
    by_kind: dict[str, list[float]] = {}
    for ms, kinds in timed:
        by_kind.setdefault(kinds, []).append(ms)
    kinds_line = "; ".join(
        f"{kinds} p50 {statistics.median(t):.1f} / p95 {t[int(len(t) * 0.95)]:.1f} ms"
        for kinds, t in sorted(by_kind.items())
    )
    return {
        "p50_ms": statistics.median(timings),
        "p95_ms": timings[949],
        "max_ms": timings[-1],
        "slowest": slowest,
        "by_kind": kinds_line,
    }


CHILDREN: dict[str, Callable[[Path], dict[str, Any]]] = {
    "copy": child_copy,
    "first_import": child_first_import,
    "import": child_import,
    "diff": child_diff,
    "search": child_search,
}


def _run_child(kind: str, path: Path) -> dict[str, Any]:
    out = subprocess.run([sys.executable, __file__, "--child", kind, str(path)], capture_output=True, text=True,
                         check=False, env={**os.environ, "MADOGUCHI_LOG_LEVEL": "WARNING"})  # fmt: skip
    if out.returncode != 0:
        raise SystemExit(f"{kind} failed:\n{out.stderr[-3000:]}")
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[416_120, 3_800_000])
    parser.add_argument("--child", nargs=2, metavar=("KIND", "FILE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, file = args.child
        print(json.dumps(CHILDREN[kind](Path(file))))
        return
    _ensure_database()
    _django()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    for size in args.sizes:
        started = time.perf_counter()
        path = _generate(size)
        next_day = _next_day(path)
        generated = time.perf_counter() - started
        copy = _run_child("copy", path)
        first = _run_child("first_import", path)
        copy_next = _run_child("copy", next_day)
        merged = _run_child("import", next_day)
        mb = path.stat().st_size / 1e6
        print(f"\n{size:,} residents ({mb:,.0f} MB; generated in {generated:.0f} s)")
        print(f"  raw COPY into a bare table   {copy['seconds']:8.1f} s  {size / copy['seconds']:10,.0f} rows/s"
              f"  peak {copy['peak_mb']:6.0f} MB")  # fmt: skip
        print(f"  raw COPY + the same indexes  {copy['indexed_seconds']:8.1f} s"
              f"  {size / copy['indexed_seconds']:10,.0f} rows/s")  # fmt: skip
        print(f"  first load (empty mirror)    {first['seconds']:8.1f} s  {size / first['seconds']:10,.0f} rows/s"
              f"  peak {first['peak_mb']:6.0f} MB")  # fmt: skip
        print(f"    ratio: {copy['seconds'] / first['seconds']:.2f}x the speed of COPY; "
              f"{copy['indexed_seconds'] / first['seconds']:.2f}x the speed of COPY + indexes")  # fmt: skip
        rows = merged["rows"]
        print(f"  next day's snapshot ({merged['changes']}):")
        print(f"    raw COPY into a bare table {copy_next['seconds']:8.1f} s  {rows / copy_next['seconds']:10,.0f} "
              f"rows/s  peak {copy_next['peak_mb']:6.0f} MB")  # fmt: skip
        print(f"    madoguchi import (merge)   {merged['seconds']:8.1f} s  {rows / merged['seconds']:10,.0f} rows/s"
              f"  peak {merged['peak_mb']:6.0f} MB")  # fmt: skip
        print(f"    ratio: {copy_next['seconds'] / merged['seconds']:.2f}x the speed of COPY; "
              f"{copy_next['indexed_seconds'] / merged['seconds']:.2f}x the speed of COPY + indexes")  # fmt: skip
    diff = _run_child("diff", path)
    print(f"\n2,000-change difference at {size:,}: {diff['seconds']:.2f} s (peak {diff['peak_mb']:.0f} MB)")
    search = _run_child("search", path)
    print(f"1,000 mixed searches at {size:,}: p50 {search['p50_ms']:.1f} ms, p95 {search['p95_ms']:.1f} ms, "
          f"max {search['max_ms']:.1f} ms (slowest: {search['slowest']})")  # fmt: skip
    print(f"  by kind: {search['by_kind']}")


if __name__ == "__main__":
    main()
