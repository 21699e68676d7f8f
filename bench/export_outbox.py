"""Benchmark: the outbound export (issue 7) — 10,000 finished receptions written as a batch (CSV and manifest).

Set-up, not timed: a scratch PostgreSQL database, migrated; 10,000 receptions put in the outbox through the real
``integrations.outbound.outbox_put``, 1,000 to a transaction. Each has a 住民異動届 row of the starter form's 20
CSV columns (synthetic names with MJ+ characters — 髙, 𠮷, the IVS sequence 葛+U+E0102 — addresses, dates); one in
five also has a 個人番号カード券面事項 row (``std_kojin_bango_card@1``, its individual number sealed), so the
batch has two files and the flush unseals what it must. By default no PDFs: the figure is CSV + manifest.

Timed: ``export_flush`` into a ``LocalFolderStorage`` in a temporary folder — the whole flush: cutting the batch
(MADOGUCHI_EXPORT_BATCH_MAX is raised so that every item goes in one batch), reading the items, unsealing, writing
the CSVs and, last, the manifest, recording the batch as written, the audit record and the ``export_written``
hook. In the same
round, the baseline: Python's ``csv`` module writing the same rows (the same headers and values, CRLF, UTF-8) to
files in the same folder; its files must be byte for byte the flush's CSVs. For scale, not for the goal: one
SELECT of the same rows from the outbox table, decoded and unsealed, written by the csv module — the least any
export from the database does. Each round starts from a fresh outbox. The figures are the medians over the
rounds; peak memory is the process's VmHWM, reset before each timed part (``/proc/self/clear_refs``). Under a
ratio of 0.5 (or with ``--profile``) two more flushes of fresh outboxes show where the time goes: one with
outbound's steps and every query timed, one under cProfile.

    .venv/bin/python bench/export_outbox.py                       # 10,000 receptions, 5 rounds
    .venv/bin/python bench/export_outbox.py --rounds 3 --pdf      # and the same with a 16 KB PDF per reception
    … --database-url postgres://user@host:5432/scratch_name       # created at the start, dropped at the end
"""

from __future__ import annotations

import argparse
import cProfile
import csv
import datetime as dt
import gc
import io
import itertools
import json
import os
import pstats
import random
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from integrations.outbound import ExportRows

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

GOAL = 0.5
PER_TRANSACTION = 1_000
CARD_EVERY = 5  # one reception in five read a My Number card at the counter
PDF_BYTES = 16 * 1024
TODAY = dt.date(2026, 12, 7)

# (氏, 氏カナ), MJ characters among them: 髙, 𠮷 and 﨑 are outside JIS X 0208; 葛 carries its IVS selector.
SURNAMES = (
    ("髙橋", "タカハシ"), ("𠮷田", "ヨシダ"), ("葛\U000e0102西", "カサイ"), ("渡邉", "ワタナベ"), ("齋藤", "サイトウ"),
    ("山﨑", "ヤマサキ"), ("山田", "ヤマダ"), ("佐藤", "サトウ"), ("鈴木", "スズキ"), ("田中", "タナカ"),
    ("伊藤", "イトウ"), ("中村", "ナカムラ"), ("小林", "コバヤシ"), ("加藤", "カトウ"), ("吉川", "ヨシカワ"),
)  # fmt: skip
GIVEN = (
    ("太郎", "タロウ"), ("花子", "ハナコ"), ("健", "ケン"), ("ゆい", "ユイ"), ("一郎", "イチロウ"), ("美咲", "ミサキ"),
    ("翔太", "ショウタ"), ("陽菜", "ヒナ"), ("大輔", "ダイスケ"), ("恵美", "エミ"), ("蓮", "レン"), ("祐子", "ユウコ"),
)  # fmt: skip
TOWNS = ("本町", "中央町", "新町", "葛西町", "𠮷野町", "髙田町", "港町", "緑が丘")
OTHER_CITIES = ("東京都葛飾区柴又", "神奈川県横浜市中区山下町", "大阪府大阪市北区梅田", "香川県高松市番町")
REASONS = ("転入", "転居", "転出", "世帯変更")
RELATIONS = ("本人", "世帯主", "妻", "夫", "子", "代理人")


@dataclass
class Outbox:
    """What one round put in the outbox: the rows of each CSV file, in the order the flush writes them."""

    files: dict[str, tuple[list[str], list[list[str]]]]  # "<kind>_v<n>" → (header, rows)
    pdfs: dict[str, bytes]
    put_seconds: float

    @property
    def rows(self) -> int:
        return sum(len(rows) for _, rows in self.files.values())


@dataclass
class Timed:
    seconds: float
    peak_mb: float
    grew_mb: float
    queries: int = 0


# --- memory -----------------------------------------------------------------------------------------------


def _status_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


@contextmanager
def _measured(into: list[Timed]) -> Iterator[None]:
    """Time the block; its peak memory is this process's VmHWM, reset at the start (Linux ≥ 4.0)."""
    gc.collect()
    os.sync()  # the previous part's files are on disk: neither part pays for the other's writeback
    Path("/proc/self/clear_refs").write_text("5")
    before = _status_mb("VmRSS")
    start = time.perf_counter()
    yield
    seconds = time.perf_counter() - start
    peak = _status_mb("VmHWM")
    into.append(Timed(seconds, peak, peak - before))


# --- the outbox -------------------------------------------------------------------------------------------


def _juminido_layout() -> tuple[str, list[str]]:
    """The starter 住民異動届's newest published version: its layout name and CSV header."""
    spec = json.loads((ROOT / "forms_engine" / "starter" / "juminido.json").read_text(encoding="utf-8"))
    version = max((v for v in spec["versions"] if v["status"] == "published"), key=lambda v: v["number"])
    return f"{spec['code']}@{version['number']}", [column["header"] for column in version["csv_columns"]]


def _receptions(count: int, seed: int) -> Iterator[tuple[str, list[ExportRows]]]:
    """``count`` receptions as (受付番号, the ExportRows the counter would hand to ``outbox_put``)."""
    from forms_engine.standard_layouts import STANDARD_LAYOUTS
    from integrations.outbound import ExportRows
    from madoguchi.moji.checkdigit import with_check_digit

    layout, header = _juminido_layout()
    card = next(std for std in STANDARD_LAYOUTS if std.kind == "std_kojin_bango_card")
    rng = random.Random(seed)
    for n in range(count):
        reception_no = f"{TODAY:%Y%m%d}-shimin-{n % 12 + 1}-{n // 12 + 1:04d}"
        shi, shi_kana = rng.choice(SURNAMES)
        mei, mei_kana = rng.choice(GIVEN)
        head = f"{shi}　{rng.choice(GIVEN)[0]}"
        birth = dt.date(1940, 1, 1) + dt.timedelta(days=rng.randrange(30_000))
        address = (
            f"窓口市{rng.choice(TOWNS)}{rng.randint(1, 5)}丁目{rng.randint(1, 40)}番{rng.randint(1, 20)}号"
        )
        movers = [f"{shi}　{mei}"] + [
            f"{shi}　{rng.choice(GIVEN)[0]}" for _ in range(rng.choice((0, 0, 1, 2, 3)))
        ]
        values = {
            "受付番号": reception_no,
            "届出日": TODAY.isoformat(),
            "異動事由": rng.choice(REASONS),
            "異動日": (TODAY - dt.timedelta(days=rng.randrange(14))).isoformat(),
            "宛名番号": with_check_digit(f"{100_000_000 + n:09d}", ten="0"),
            "世帯番号": with_check_digit(f"{500_000_000 + n:09d}", ten="0"),
            "届出人氏名": f"{shi}　{mei}",
            "届出人との関係": rng.choice(RELATIONS),
            "氏": shi,
            "名": mei,
            "氏カナ": shi_kana,
            "名カナ": mei_kana,
            "生年月日": birth.isoformat(),
            "郵便番号": f"760-{rng.randrange(10_000):04d}",
            "住所": address,
            "方書": rng.choice(
                ("", "", "メゾン窓口 203号", f"コーポ{shi} {rng.randint(1, 3)}0{rng.randint(1, 9)}号")
            ),
            "旧住所": f"{rng.choice(OTHER_CITIES)}{rng.randint(1, 9)}-{rng.randint(1, 30)}-{rng.randint(1, 15)}",
            "世帯主氏名": head,
            "異動者": "、".join(movers),
            "連絡先電話番号": f"090-{rng.randrange(10_000):04d}-{rng.randrange(10_000):04d}",
        }
        exports = [ExportRows("juminido", layout, header, [[values[column] for column in header]])]
        if n % CARD_EVERY == 0:
            number = with_check_digit(f"{rng.randrange(10**10, 10**11):011d}")
            face = {
                "受付番号": reception_no,
                "宛名番号": values["宛名番号"],
                "読取日時": f"{TODAY.isoformat()}T{9 + n % 8:02d}:{n % 60:02d}:00+09:00",
                "氏名": values["届出人氏名"],
                "住所": address,
                "生年月日": values["生年月日"],
                "性別": rng.choice(("男", "女")),
                "個人番号": number,
            }
            exports.append(
                ExportRows(card.kind, card.layout, card.header, [[face[h] for h in card.header]], card.secret)
            )
        yield reception_no, exports


def _pdf(reception_no: str) -> bytes:
    """A small PDF-like file of PDF_BYTES, different for every reception."""
    body = (reception_no.encode() * (PDF_BYTES // len(reception_no) + 1))[: PDF_BYTES - 32]
    return b"%PDF-1.7\n" + body + b"\n%%EOF\n"


def _outbox_fill(count: int, *, pdf: bool) -> Outbox:
    """Empty the outbox and put ``count`` receptions in it through ``outbox_put`` (not timed for the ratio)."""
    from django.db import connection, transaction

    from integrations.models import ExportBatch, ExportDocument, ExportItem
    from integrations.outbound import outbox_put

    ExportItem.objects.all().delete()
    ExportBatch.objects.all().delete()
    for document in ExportDocument.objects.all():
        document.pdf.delete(save=False)
    ExportDocument.objects.all().delete()
    with connection.cursor() as cursor:
        for table in ("integrations_exportitem", "integrations_exportbatch", "integrations_exportdocument"):
            cursor.execute(f"VACUUM ANALYZE {table}")
    files: dict[str, tuple[list[str], list[list[str]]]] = {}
    pdfs: dict[str, bytes] = {}
    receptions = _receptions(count, seed=count)
    # outbox_put's on_commit would queue a flush once enough rows wait (to a broker nobody reads here): the set-up
    # skips that check, which is all _flush_if_due does.
    from integrations import outbound

    queue_check, outbound._flush_if_due = outbound._flush_if_due, lambda: None
    start = time.perf_counter()
    while present := list(itertools.islice(receptions, PER_TRANSACTION)):
        with transaction.atomic():
            for reception_no, exports in present:
                data = _pdf(reception_no) if pdf else None
                outbox_put(reception_no=reception_no, exports=exports, pdf=data)
                for export in exports:
                    name = f"{export.kind}_v{export.layout.rpartition('@')[2]}"
                    files.setdefault(name, (export.header, []))[1].extend(export.rows)
                if data:
                    pdfs[reception_no] = data
    put_seconds = time.perf_counter() - start
    outbound._flush_if_due = queue_check
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE integrations_exportitem")
    return Outbox(dict(sorted(files.items())), pdfs, put_seconds)


# --- the measurements -------------------------------------------------------------------------------------


def _flush(folder: Path, into: list[Timed]) -> list[str]:
    from django.db import connection

    from integrations.outbound import export_flush
    from integrations.storage import LocalFolderStorage

    queries = 0

    def count(execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any) -> Any:
        nonlocal queries
        queries += 1
        return execute(sql, params, many, context)

    storage = LocalFolderStorage(folder)
    with connection.execute_wrapper(count), _measured(into):
        keys = export_flush(storage=storage)
    into[-1].queries = queries
    return keys


def _write(folder: Path, files: dict[str, tuple[list[str], list[list[str]]]], pdfs: dict[str, bytes]) -> None:
    for name, (header, rows) in files.items():
        with (folder / f"{name}.csv").open("w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle, lineterminator="\r\n")
            writer.writerow(header)
            writer.writerows(rows)
    if pdfs:
        (folder / "pdf").mkdir()
        for reception_no, data in pdfs.items():
            (folder / "pdf" / f"{reception_no}.pdf").write_bytes(data)


def _baseline(outbox: Outbox, folder: Path, into: list[Timed]) -> None:
    """The goal's baseline: Python's csv module writing the same rows, as a program that already holds them."""
    folder.mkdir()
    with _measured(into):
        _write(folder, outbox.files, outbox.pdfs)


def _read_and_write(folder: Path, into: list[Timed]) -> None:
    """For scale, the least an export from the database does: one SELECT of the outbox's rows (decoded, the sealed
    values unsealed) and the csv module writing them — no batch formed, no state recorded, no manifest."""
    from django.db import connection

    from integrations.outbound import SEAL_PURPOSE
    from madoguchi.fieldcrypt import unseal

    folder.mkdir()
    with _measured(into):
        files: dict[str, tuple[list[str], list[list[str]]]] = {}
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT kind, layout, header::text, rows::text, secrets FROM integrations_exportitem"
                " ORDER BY kind, layout, id"
            )
            for kind, layout, header, text, secrets in cursor.fetchall():
                rows = json.loads(text)
                if secrets:
                    for place, value in json.loads(unseal(secrets, purpose=SEAL_PURPOSE)).items():
                        number, index = (int(part) for part in place.split(":"))
                        rows[number][index] = value
                name = f"{kind}_v{layout.rpartition('@')[2]}"
                if name not in files:
                    files[name] = (json.loads(header), [])
                files[name][1].extend(rows)
        _write(folder, files, {})


def _same_files(outbox: Outbox, flushed: Path, written: list[Path], manifest_keys: list[str]) -> int:
    """Check that the flush wrote one batch whose CSVs (and PDFs) are byte for byte the files in each of
    ``written``; return the batch's bytes."""
    if len(manifest_keys) != 1:
        raise SystemExit(f"expected one batch, the flush wrote {len(manifest_keys)}")
    manifest = json.loads((flushed / manifest_keys[0]).read_bytes())
    prefix = manifest_keys[0].rpartition("/")[0]
    total = 0
    for entry in manifest["files"]:
        data = (flushed / prefix / entry["file"]).read_bytes()
        total += len(data)
        name = (
            entry["file"] if entry["kind"] == "pdf" else f"{entry['kind']}_{entry['file'].rpartition('_')[2]}"
        )
        for folder in written:
            if data != (folder / name).read_bytes():
                raise SystemExit(f"{entry['file']} differs from {folder.name}/{name}: not the same rows")
    expected_files = len(outbox.files) + len(outbox.pdfs)
    if len(manifest["files"]) != expected_files:
        raise SystemExit(f"the manifest lists {len(manifest['files'])} files, expected {expected_files}")
    return total


@dataclass
class Rounds:
    outbox: Outbox
    flush: list[Timed]
    csv: list[Timed]
    read: list[Timed]  # empty with PDFs
    puts: list[float]


def _rounds(args: argparse.Namespace, scratch: Path, *, pdf: bool) -> Rounds:
    """Fresh outbox, flush, baselines, check — ``args.rounds`` times."""
    flushes: list[Timed] = []
    baselines: list[Timed] = []
    reads: list[Timed] = []
    puts: list[float] = []
    outbox = None
    for number in range(1, args.rounds + 1):
        outbox = _outbox_fill(args.receptions, pdf=pdf)
        puts.append(outbox.put_seconds)
        with tempfile.TemporaryDirectory(dir=scratch) as tmp:
            folder = Path(tmp)
            keys = _flush(folder / "storage", flushes)
            _baseline(outbox, folder / "csv", baselines)
            written = [folder / "csv"]
            if not pdf:
                _read_and_write(folder / "read", reads)
                written.append(folder / "read")
            size = _same_files(outbox, folder / "storage", written, keys)
        flush, base = flushes[-1], baselines[-1]
        read = f"; SELECT + csv module {reads[-1].seconds:6.3f} s" if reads else ""
        print(f"  round {number}: outbox_put {outbox.put_seconds:5.1f} s (not timed); "
              f"flush {flush.seconds:6.3f} s, {flush.queries} queries; csv module {base.seconds:6.3f} s{read}; "
              f"ratio {base.seconds / flush.seconds:.2f}x  ({size / 1e6:.1f} MB written)", flush=True)  # fmt: skip
    assert outbox is not None
    return Rounds(outbox, flushes, baselines, reads, puts)


def _line(label: str, timed: list[Timed], rows: int, receptions: int) -> float:
    seconds = statistics.median(t.seconds for t in timed)
    print(f"  {label:<34}{seconds:7.3f} s  {rows / seconds:10,.0f} rows/s  {receptions / seconds:8,.0f} receptions/s"
          f"  peak {max(t.peak_mb for t in timed):4.0f} MB (+{max(t.grew_mb for t in timed):.0f})")  # fmt: skip
    return seconds


def _report(title: str, rounds: Rounds, receptions: int) -> float:
    outbox = rounds.outbox
    rows = outbox.rows
    pdfs = f" + {len(outbox.pdfs):,} PDFs" if outbox.pdfs else ""
    print(f"\n{title}: {receptions:,} receptions, {rows:,} rows in {len(outbox.files)} CSV files{pdfs};"
          f" median of {len(rounds.flush)} rounds")  # fmt: skip
    flush = _line("export_flush", rounds.flush, rows, receptions)
    base = _line("csv module, the same rows", rounds.csv, rows, receptions)
    if rounds.read:
        read = _line("one SELECT + csv module (scale)", rounds.read, rows, receptions)
    put = statistics.median(rounds.puts)
    print(
        f"  {'outbox_put (set-up, not timed)':<34}{put:7.1f} s  {'':>17}  {receptions / put:8,.0f} receptions/s"
    )
    ratio = base / flush
    print(f"  ratio: {ratio:.2f}x the speed of the csv module (goal ≥ {GOAL}x)")
    if rounds.read:
        print(f"  for scale: one SELECT + csv module runs at {base / read:.2f}x the csv module's speed;"
              f" the flush at {read / flush:.2f}x its speed")  # fmt: skip
    return ratio


# Where a flush spends its time: outbound's steps, in the order export_flush calls them (indented: called by the
# step above). They are wrapped in this process only, for one instrumented flush; outbound.py is not changed.
STEPS = (
    ("_batches_form", 0, "forming the batch: an id range, cut under a table lock"),
    ("_batch_write", 0, "writing the batch"),
    ("_batch_csvs", 1, "reading the items, making the CSVs"),
    ("_unsealed", 2, "sealed rows, unsealed"),
    ("csv_lines", 2, "sealed rows encoded (csv module), cells checked"),
    ("csv_file", 2, "the stored CSV text joined and encoded"),
    ("LocalFolderStorage.put", 1, "the CSVs and the manifest written"),
    ("_manifest", 1, "the manifest: sha256, receptions"),
    ("audit_record", 0, "the audit record"),
    ("export_written_notify", 0, "the hook (counters.receptions_linked)"),
)


def _sql_short(sql: str) -> str:
    """A query on one short line: no table qualifiers, no long column lists, parameter lists counted."""
    text = re.sub(r'"\w+"\.', "", " ".join(sql.split()))
    text = re.sub(r"^SELECT (DISTINCT )?(?!DISTINCT)(.{40,}?) FROM", r"SELECT \1… FROM", text)
    text = re.sub(r"IN \(%s(, %s)+\)", lambda m: f"IN ({m.group(0).count('%s')} × %s)", text)
    return text if len(text) <= 110 else text[:109] + "…"


@dataclass
class Breakdown:
    spent: dict[str, float]
    queries: list[tuple[float, str, int, int, str]]  # seconds, step, parameters, rows, SQL


@contextmanager
def _instrumented() -> Iterator[Breakdown]:
    """Time outbound's steps and every query (each attributed to the innermost step running)."""
    from django.db import connection

    from integrations import outbound
    from integrations.storage import LocalFolderStorage

    breakdown = Breakdown({}, [])
    running: list[str] = ["export_flush"]

    def timed(name: str, original: Callable[..., Any]) -> Callable[..., Any]:
        def step(*args: Any, **kwargs: Any) -> Any:
            running.append(name)
            start = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                breakdown.spent[name] = breakdown.spent.get(name, 0.0) + time.perf_counter() - start
                running.pop()

        return step

    def query(execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any) -> Any:
        start = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            rows = context["cursor"].rowcount
            breakdown.queries.append((time.perf_counter() - start, running[-1], len(params or ()), rows, sql))

    originals: list[tuple[Any, str, Any]] = []
    for name, _, _ in STEPS:
        owner, attribute = (LocalFolderStorage, "put") if "." in name else (outbound, name)
        originals.append((owner, attribute, getattr(owner, attribute)))
        setattr(owner, attribute, timed(name, getattr(owner, attribute)))
    try:
        with connection.execute_wrapper(query):
            yield breakdown
    finally:
        for owner, attribute, original in originals:
            setattr(owner, attribute, original)


def _where_the_time_goes(receptions: int, scratch: Path) -> None:
    """A flush with its steps and queries timed, then one under cProfile, each of a fresh outbox."""
    from integrations.outbound import export_flush
    from integrations.storage import LocalFolderStorage

    _outbox_fill(receptions, pdf=False)
    with tempfile.TemporaryDirectory(dir=scratch) as tmp, _instrumented() as breakdown:
        gc.collect()
        start = time.perf_counter()
        export_flush(storage=LocalFolderStorage(tmp))
        total = time.perf_counter() - start
    in_sql: dict[str, float] = {}
    for seconds, step, _, _, _ in breakdown.queries:
        in_sql[step] = in_sql.get(step, 0.0) + seconds
    print(f"\nwhere one flush spends its time ({total:.3f} s, steps and queries timed):")
    print(f"  {'step':<64} {'seconds':>8} {'share':>6} {'in SQL':>7}")
    print(f"  {'export_flush':<64} {total:8.3f} {1:6.0%} {sum(in_sql.values()):7.3f}")
    for name, depth, what in STEPS:
        seconds = breakdown.spent.get(name, 0.0)
        label = "  " * (depth + 1) + f"{name}: {what}"
        print(f"  {label:<64} {seconds:8.3f} {seconds / total:6.0%} {in_sql.get(name, 0.0):7.3f}")
    rest = total - sum(breakdown.spent.get(name, 0.0) for name, depth, _ in STEPS if depth == 0)
    label = "  the rest: due batches, the batch marked written, commit"
    print(f"  {label:<64} {rest:8.3f} {rest / total:6.0%} {in_sql.get('export_flush', 0.0):7.3f}")
    print(f"\n  the {len(breakdown.queries)} queries, slowest first (seconds, step, bound parameters, rows):")
    for seconds, step, parameters, rows, sql in sorted(breakdown.queries, reverse=True)[:12]:
        print(f"  {seconds:7.3f}  {step:<22} {parameters:6} {rows:6}  {_sql_short(sql)}")

    _outbox_fill(receptions, pdf=False)
    profile = cProfile.Profile()
    with tempfile.TemporaryDirectory(dir=scratch) as tmp:
        gc.collect()
        start = time.perf_counter()
        profile.enable()
        export_flush(storage=LocalFolderStorage(tmp))
        profile.disable()
        seconds = time.perf_counter() - start
    out = io.StringIO()
    stats = pstats.Stats(profile, stream=out).strip_dirs()
    stats.sort_stats("tottime").print_stats(20)
    lines = [line for line in out.getvalue().splitlines() if line.strip()]
    first = next(i for i, line in enumerate(lines) if "ncalls" in line)
    print(f"\n  a flush under cProfile ({seconds:.3f} s), by own time:")
    print("\n".join("  " + line for line in lines[first:]))


def _server_version() -> str:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        return str(cursor.fetchone()[0]).split()[0]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--receptions", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--pdf", action="store_true", help="then the same rounds with a PDF per reception")
    parser.add_argument(
        "--profile", action="store_true", help="show where a flush's time goes whatever the ratio"
    )
    parser.add_argument(
        "--database-url",
        default=f"postgres://postgres@127.0.0.1:5432/madoguchi_bench_export_{os.getpid()}",
        help="a PostgreSQL database that does not exist yet: created, migrated, and dropped at the end",
    )
    args = parser.parse_args()

    import psycopg

    server, name = args.database_url.rsplit("/", 1)
    scratch = tempfile.TemporaryDirectory(prefix="madoguchi-bench-export-")
    os.environ.update(
        DJANGO_SETTINGS_MODULE="madoguchi.settings",
        MADOGUCHI_VAR_DIR=scratch.name,  # the PDFs (MEDIA_ROOT) and anything else the app writes
        DATABASE_URL=args.database_url,
        MADOGUCHI_EXPORT_BATCH_MAX=str(10 * args.receptions),  # every item in one batch
        MADOGUCHI_LOG_LEVEL="WARNING",
    )
    admin = psycopg.connect(f"{server}/postgres", autocommit=True)
    try:
        admin.execute(f'CREATE DATABASE "{name}"')
    except psycopg.errors.DuplicateDatabase:
        raise SystemExit(
            f"database {name} exists; name one that does not (it is dropped at the end)"
        ) from None
    try:
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", "--noinput", verbosity=0)
        print(f"{args.receptions:,} receptions, {args.rounds} rounds, database {name}, "
              f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}, Python {sys.version.split()[0]}, "
              f"PostgreSQL {_server_version()}", flush=True)  # fmt: skip
        _outbox_fill(100, pdf=args.pdf)  # warm-up: imports, caches, the destination
        with tempfile.TemporaryDirectory(dir=scratch.name) as tmp:
            _flush(Path(tmp), [])
        ratio = _report("CSV + manifest", _rounds(args, Path(scratch.name), pdf=False), args.receptions)
        if ratio < GOAL or args.profile:
            _where_the_time_goes(args.receptions, Path(scratch.name))
        if args.pdf:
            print("\nwith a PDF per reception:")
            title = f"CSV + {PDF_BYTES // 1024} KB PDF + manifest"
            _report(title, _rounds(args, Path(scratch.name), pdf=True), args.receptions)
    finally:
        from django.db import connections

        connections.close_all()
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()
        scratch.cleanup()


if __name__ == "__main__":
    main()
