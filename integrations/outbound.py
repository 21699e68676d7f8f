"""Outbound linkage (R-L4, R-L5, R-I4): the outbox, its batches to object storage, and the RPA results.

- ``outbox_put`` runs inside the transaction that finishes a reception: it stores the reception's rows (one item
  per layout) and its PDF, once. Values are checked here, so a reception that could not be exported is refused at
  the counter, not found broken at 3 a.m.: a formula-like value, or a character a JIS X 0213 destination cannot
  take. The individual number is sealed (``madoguchi.fieldcrypt``) before it is stored.
- ``export_flush`` cuts the waiting items into a batch per destination — an id range, so that forming a batch
  rewrites no item; its name (date and sequence), and so every key, is fixed from then on — and writes the
  batch: a CSV per kind and layout version, the PDFs, and last the manifest with each file's rows, bytes and
  SHA-256. A robot treats a batch as present only once its manifest is. A batch that fails (storage down, the
  process killed) is written again, under the same keys, by the next flush; an item belongs to exactly one
  batch, so nothing is written twice into two batches. Rows are stored CSV-encoded when they are put, so the
  flush mostly joins text.
- ``export_results_pickup`` reads ``<batch>.result.csv`` files (受付番号, 結果 OK/NG, メッセージ) written by the
  robot next to the manifest: OK acknowledges the reception's rows (and purges their sealed secrets), NG marks
  them refused with the message. A malformed file is rejected whole with a report beside it; a line naming a
  reception the batch does not hold is reported and changes nothing.
- ``export_item_correct`` re-exports a refused reception's corrected rows as a new revision;
  ``export_batch_resend`` writes a batch again.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import itertools
import json
import logging
import re
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import connection, transaction
from django.db.models import Exists, F, Max, Min, Q
from django.utils import timezone

from madoguchi.audit.models import AuditAction
from madoguchi.audit.services import audit_record
from madoguchi.db import hold_new_rows
from madoguchi.fieldcrypt import SealBroken, opener, seal
from madoguchi.moji.csvsafe import UnsafeCsvValue, check_cell, csv_field, csv_file, csv_lines, write_csv
from madoguchi.moji.jis import NoSubstitute, Substitution, degrade_to_jisx0213, in_jisx0213

from .hooks import export_requeued_notify, export_result_notify, export_written_notify
from .models import (
    ExportBatch,
    ExportDestination,
    ExportDocument,
    ExportItem,
    ExportStatus,
    Repertoire,
)
from .storage import ObjectStorage, StorageError, default_storage

logger = logging.getLogger(__name__)

SEAL_PURPOSE = "outbox_secrets"
RESULT_HEADER = ("受付番号", "結果", "メッセージ")
RESULT_VALUES = ("OK", "NG")
MAX_RESULT_LINES = 100_000
MAX_REPORTED = 1_000
JIS_SUFFIX = "_JIS"
UNSEALABLE = "暗号化された値を復号できず、空欄で出力しました（MADOGUCHI_DATA_KEY を確認してください）"


class ExportRefused(ValueError):
    """Rows that cannot be exported as they are; the message names the reception, column and reason."""


@dataclass(frozen=True)
class ExportRows:
    """A reception's rows of one layout, as the caller hands them to the outbox."""

    kind: str
    layout: str  # e.g. "juminido@3" (form code @ version) or "std_jumin_ido@1"
    header: list[str]
    rows: list[list[str]]
    secret_columns: frozenset[str] = field(default_factory=frozenset)


# --- destinations -------------------------------------------------------------------------------------


def destination_for(kind: str) -> ExportDestination:
    """The active destination that names ``kind``, else the active one with no kinds; ``core`` under
    OUTBOUND_PREFIX is made when no destination is configured at all."""
    destinations = list(ExportDestination.objects.filter(active=True).order_by("pk"))
    for destination in destinations:
        if kind in destination.kinds:
            return destination
    for destination in destinations:
        if not destination.kinds:
            return destination
    if ExportDestination.objects.exists():
        raise ExportRefused(f"no active export destination takes the kind {kind!r}")
    destination, _ = ExportDestination.objects.get_or_create(
        code="core", defaults={"name": "基幹系", "prefix": settings.OUTBOUND_PREFIX}
    )
    return destination


def _degradable(destination: ExportDestination, header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """Raise ExportRefused when a JIS X 0213 destination could not take a value, naming where."""
    if destination.repertoire == Repertoire.JISX0213:
        _degraded(destination, list(header), [list(row) for row in rows])


# --- the outbox -----------------------------------------------------------------------------------------


def outbox_put(
    *, reception_no: str, exports: Sequence[ExportRows], pdf: bytes | None = None
) -> list[ExportItem]:
    """Store a finished reception's rows and PDF for export. Call it inside the transaction that finishes the
    reception; calling it again for the same reception and kind changes nothing.

    Raises UnsafeCsvValue or ExportRefused (naming the reception, row and column) before anything is stored."""
    items: list[ExportItem] = []
    for export in exports:
        destination = destination_for(export.kind)
        for number, row in enumerate(export.rows, start=1):
            if len(row) != len(export.header):
                raise ExportRefused(f"{reception_no}: {export.kind} row {number} does not match its header")
        sealed_columns = [i for i, column in enumerate(export.header) if column in export.secret_columns]
        rows, secrets = _rows_sealed(export, sealed_columns)
        try:
            _cells_checked(export.header, rows, sealed_columns)
        except (UnsafeCsvValue, ExportRefused) as exc:
            raise type(exc)(f"{reception_no} {export.kind}: {exc}") from exc
        try:
            _degradable(destination, export.header, rows)
        except ExportRefused as exc:
            raise ExportRefused(f"{reception_no} {export.kind}: {exc}") from exc
        item, _ = ExportItem.objects.get_or_create(
            kind=export.kind,
            reception_no=reception_no,
            revision=1,
            defaults={
                "layout": export.layout,
                "header": export.header,
                "rows": rows,
                "csv": _encoded(reception_no, rows, sealed_columns),
                "row_count": len(rows),
                "secrets": secrets,
                "sealed_at": timezone.now() if secrets else None,
                "sealed_columns": sealed_columns,
                "destination": destination,
            },
        )
        items.append(item)
    if pdf and items and not ExportDocument.objects.filter(reception_no=reception_no).exists():
        document = ExportDocument(reception_no=reception_no, sha256=hashlib.sha256(pdf).hexdigest())
        document.pdf.save(f"{reception_no}.pdf", ContentFile(pdf), save=False)
        document.save()
    if items:
        transaction.on_commit(_flush_if_due)
    return items


def _rows_sealed(export: ExportRows, indexes: Sequence[int]) -> tuple[list[list[str]], str]:
    """The rows with the secret columns (``indexes``) emptied, and those values sealed as one token ("" when
    none)."""
    if not indexes:
        return [list(row) for row in export.rows], ""
    rows, hidden = [], {}
    for number, row in enumerate(export.rows):
        row = list(row)
        for index in indexes:
            if row[index]:
                hidden[f"{number}:{index}"] = row[index]
            row[index] = ""
        rows.append(row)
    return rows, seal(json.dumps(hidden), purpose=SEAL_PURPOSE) if hidden else ""


def _cells_checked(
    header: Sequence[str], rows: Sequence[Sequence[str]], sealed_columns: Sequence[int]
) -> None:
    """Raise UnsafeCsvValue or ExportRefused, naming the row and column, for a cell that cannot be exported: one
    a spreadsheet would run, or one with a BMP private-use character (an old vendor's 外字, domain.md §3: no
    core system can read it, and the stored CSV text uses two of them to mark its sealed cells)."""
    for number, row in enumerate(rows, start=1):
        for index, (column, value) in enumerate(zip(header, row, strict=True)):
            if index in sealed_columns:
                continue
            check_cell(value, row=number, column=column)
            if found := _PRIVATE_USE.search(value):
                raise ExportRefused(
                    f"row {number}, column {column}: the private-use character U+{ord(found[0]):04X} (外字) "
                    "cannot be exported; replace it with its MJ character"
                )


_PRIVATE_USE = re.compile("[\ue000-\uf8ff]")
_HOLE = re.compile("\ue000([^\ue000\ue001]*)\ue001")


def _encoded(reception_no: str, rows: list[list[str]], sealed_columns: Sequence[int]) -> str:
    """The rows as the stored CSV text, each sealed cell a hole, U+E000 受付番号:row:column U+E001 (unique within a
    batch's file: a reception has one current item per kind), which the flush fills from the sealed values without
    encoding the rows again."""
    if sealed_columns:
        rows = [
            [
                f"\ue000{reception_no}:{n}:{i}\ue001" if i in sealed_columns else value
                for i, value in enumerate(row)
            ]
            for n, row in enumerate(rows)
        ]
    return csv_lines(rows)


def _filled(text: str, values: dict[str, str]) -> str:
    """Stored CSV text with its holes filled from ``values`` (hole → value); a hole without one (its value purged,
    or sealed under a lost key) is left empty."""
    if "\ue000" not in text:
        return text
    return _HOLE.sub(lambda hole: csv_field(values.get(hole[1], "")), text)


def _opened(pk: int, secrets: str, open_one: Callable[[str], str] | None = None) -> dict[str, str]:
    """An item's sealed values by place ("row:column"); {} when there are none or they cannot be opened."""
    if not secrets:
        return {}
    try:
        hidden: dict[str, str] = json.loads((open_one or opener(SEAL_PURPOSE))(secrets))
    except SealBroken:
        # MADOGUCHI_DATA_KEY changed or lost: the cells stay empty rather than the batch never leaving; the item
        # says so in the admin.
        logger.error("outbox item %s: its sealed values cannot be opened; exported empty", pk)
        ExportItem.objects.filter(pk=pk).update(message=UNSEALABLE)
        return {}
    return hidden


def _unsealed(pk: int, rows: list[list[str]], secrets: str) -> list[list[str]]:
    """An item's rows with its sealed values put back, to be written to the file."""
    rows = [list(row) for row in rows]
    for place, value in _opened(pk, secrets).items():
        number, index = (int(part) for part in place.split(":"))
        rows[number][index] = value
    return rows


def _waiting() -> Any:
    """The items no batch holds yet: those after their destination's last cut."""
    after = Q(pk__in=[])
    for destination_id, cut_through in ExportDestination.objects.values_list("pk", "cut_through"):
        after |= Q(destination_id=destination_id, pk__gt=cut_through)
    return ExportItem.objects.filter(after)


def _flush_if_due() -> None:
    threshold = settings.MADOGUCHI_EXPORT_FLUSH_ROWS
    # Counts at most `threshold` rows: a long outage's backlog does not make every finish slower.
    if _waiting().values("pk")[:threshold].count() < threshold:
        return
    from .tasks import export_flush

    try:
        export_flush.delay()
    except Exception:  # the broker may be down: the beat schedule flushes from the outbox later
        logger.warning("could not queue export_flush; the scheduled flush will pick the rows up")


# --- batches --------------------------------------------------------------------------------------------


def _batches_form() -> None:
    """Cut every destination's waiting items into new batches (at most MADOGUCHI_EXPORT_BATCH_MAX items each),
    each an id range whose name is fixed from now on. Cutting rewrites no item: a batch of thousands is formed by
    a few statements."""
    limit = max(1, settings.MADOGUCHI_EXPORT_BATCH_MAX)
    for destination_id, cut_through in ExportDestination.objects.order_by("pk").values_list(
        "pk", "cut_through"
    ):
        if not ExportItem.objects.filter(destination_id=destination_id, pk__gt=cut_through).exists():
            continue  # nothing waits: the table is not locked for nothing
        while True:
            with transaction.atomic():
                # No item can later commit below the cut. Taken before the destination's row: a finish holding
                # the table inserts items that lock that row (their foreign key) and must not wait for us.
                hold_new_rows(ExportItem)
                destination = ExportDestination.objects.select_for_update(no_key=True).get(pk=destination_id)
                waiting = ExportItem.objects.filter(
                    destination=destination, pk__gt=destination.cut_through
                ).order_by("pk")
                # The batch: the waiting items, or the first `limit` of them. The ends come from the index; only
                # a span of more ids than `limit` needs its items counted off.
                span = waiting.aggregate(first=Min("pk"), last=Max("pk"))
                first, last = span["first"], span["last"]
                if first is None:
                    break
                full = last - first + 1 > limit and waiting[limit:].exists()
                if full:
                    last = waiting.values_list("pk", flat=True)[limit - 1]
                day = timezone.localdate()
                seq = (
                    ExportBatch.objects.filter(destination=destination, day=day).aggregate(n=Max("seq"))["n"]
                    or 0
                ) + 1
                ExportBatch.objects.create(
                    destination=destination,
                    day=day,
                    seq=seq,
                    prefix=f"{destination.prefix}{day:%Y%m%d}/{day:%Y%m%d}-{seq:04d}/",
                    first_item_id=first,
                    last_item_id=last,
                )
                destination.cut_through = last
                destination.save(update_fields=["cut_through"])
            if not full:
                break


@dataclass
class _File:
    name: str
    kind: str
    layout: str
    data: bytes
    rows: int | None = None

    def manifest_entry(self) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "file": self.name,
            "kind": self.kind,
            "layout": self.layout,
            "bytes": len(self.data),
            "sha256": hashlib.sha256(self.data).hexdigest(),
        }
        if self.rows is not None:
            entry["rows"] = self.rows
        return entry


def _layout_suffix(layout: str) -> str:
    kind, _, version = layout.rpartition("@")
    return f"v{version}" if kind and version.isdigit() else "v0"


def _batch_csvs(batch: ExportBatch) -> tuple[list[_File], int]:
    """The batch's CSV files (and for a JIS X 0213 destination their substitution reports), one per kind and
    layout, and how many receptions they hold. Rows are stored CSV-encoded (``ExportItem.csv``): a file is those
    texts joined in id order, their holes filled with the unsealed values. Rows for a JIS X 0213 destination, and
    rows stored before they were kept encoded, are decoded, unsealed, checked and encoded here instead."""
    destination = batch.destination
    degrade = destination.repertoire == Repertoire.JISX0213
    current = batch.items.exclude(status=ExportStatus.SUPERSEDED)
    headers: dict[tuple[str, str], list[str]] = {}
    texts: dict[tuple[str, str], list[str]] = defaultdict(list)  # the rows encoded, in order
    counts: dict[tuple[str, str], int] = defaultdict(int)
    receptions: set[str] = set()
    decoded: list[tuple[int, tuple[str, str], str, int]] = []  # (pk, key, secrets, place among the texts)
    open_one = opener(SEAL_PURPOSE)
    # Thousands of short texts: read through the cursor, without building a model or a converter per row.
    sql, params = (
        current.order_by("pk")
        .values_list("pk", "kind", "layout", "reception_no", "csv", "row_count", "secrets")
        .query.sql_with_params()
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        found = cursor.fetchall()
    for pk, kind, layout, reception_no, text, row_count, secrets in found:
        key = (kind, layout)
        receptions.add(reception_no)
        if degrade or not text:
            decoded.append((pk, key, secrets, len(texts[key])))
            texts[key].append("")
            continue
        if "\ue000" in text:
            hidden = _opened(pk, secrets, open_one)
            text = _filled(text, {f"{reception_no}:{place}": value for place, value in hidden.items()})
        texts[key].append(text)
        counts[key] += row_count
    del found
    for kind, layout in texts:
        headers[(kind, layout)] = current.filter(kind=kind, layout=layout).values_list("header", flat=True)[0]
    decoded_rows: dict[tuple[str, str], list[list[str]]] = defaultdict(list)  # JIS X 0213: the rows decoded
    if decoded:
        # Every row of a JIS X 0213 destination; otherwise the few stored before they were kept encoded.
        of = current if degrade else current.filter(pk__in=[pk for pk, *_ in decoded])
        stored = dict(of.values_list("pk", "rows"))
        for pk, key, secrets, place in decoded:
            rows = _unsealed(pk, stored[pk], secrets) if secrets else stored[pk]
            counts[key] += len(rows)
            if degrade:
                decoded_rows[key].extend(rows)
            else:
                texts[key][place] = csv_lines(rows, header=headers[key])
    files: list[_File] = []
    for key, header in sorted(headers.items()):
        kind, layout = key
        stem = f"{batch.name}_{kind}_{_layout_suffix(layout)}"
        if degrade:
            header, rows, report = _degraded(destination, header, decoded_rows[key])
            files.append(_File(f"{stem}.substitutions.csv", kind, layout, report))
            texts[key] = [csv_lines(rows, header=header)]
        data = csv_file(header, texts[key], bom=destination.bom)
        files.append(_File(f"{stem}.csv", kind, layout, data, counts[key]))
    return files, len(receptions)


def _batch_pdfs(batch: ExportBatch) -> Iterator[_File]:
    """The receptions' PDFs, read one at a time (a batch of thousands of packets is never held in memory)."""
    receptions = batch.items.exclude(status=ExportStatus.SUPERSEDED).values("reception_no")
    for document in ExportDocument.objects.filter(reception_no__in=receptions).order_by("reception_no"):
        with document.pdf.open("rb") as handle:
            data = handle.read()
        if hashlib.sha256(data).hexdigest() != document.sha256:
            raise ExportRefused(f"{document.reception_no}: its stored PDF does not match its checksum")
        yield _File(f"pdf/{document.reception_no}.pdf", "pdf", "", data)


def _degraded(
    destination: ExportDestination, header: list[str], rows: list[list[str]]
) -> tuple[list[str], list[list[str]], bytes]:
    """The header and rows with a ``<column>_JIS`` twin after each degraded column, and the substitution report
    (受付番号 is the first column of every layout)."""
    twins = [i for i, column in enumerate(header) if column in destination.degraded_columns]
    new_header: list[str] = []
    for i, column in enumerate(header):
        new_header.append(column)
        if i in twins:
            new_header.append(column + JIS_SUFFIX)
    report: list[list[str]] = []
    new_rows: list[list[str]] = []
    for number, row in enumerate(rows, start=1):
        new_row: list[str] = []
        for i, value in enumerate(row):
            new_row.append(value)
            if i in twins:
                try:
                    text, substitutions = degrade_to_jisx0213(value)
                except NoSubstitute as exc:
                    raise ExportRefused(f"row {number}, column {header[i]}: {exc}") from exc
                new_row.append(text)
                report.extend(_report_lines(row[0], header[i], substitutions))
            elif not in_jisx0213(value):
                raise ExportRefused(
                    f"row {number}, column {header[i]}: a character outside JIS X 0213 for destination "
                    f"{destination.code}, and the column has no degraded twin (縮退列)"
                )
        new_rows.append(new_row)
    data = write_csv(
        ["受付番号", "列", "元の文字", "符号位置", "代替文字"], report, bom=destination.bom, check=False
    )
    return new_header, new_rows, data


def _report_lines(reception_no: str, column: str, substitutions: list[Substitution]) -> list[list[str]]:
    return [[reception_no, column, s.original, s.codepoints, s.substitute] for s in substitutions]


def _manifest(batch: ExportBatch, entries: list[dict[str, Any]], receptions: int) -> bytes:
    """The manifest: deterministic for a batch's content, so a rewrite gives the same bytes."""
    body = {
        "format": "madoguchi-outbound 1",
        "batch": batch.name,
        "destination": batch.destination.code,
        "created_at": timezone.localtime(batch.created_at).isoformat(),
        "encoding": "UTF-8 with BOM" if batch.destination.bom else "UTF-8",
        "receptions": receptions,
        "files": entries,
        "result_file": batch.result_key.rpartition("/")[2],
    }
    return (json.dumps(body, ensure_ascii=False, indent=2) + "\n").encode("utf-8")


def _batch_write(batch: ExportBatch, storage: ObjectStorage) -> tuple[str, int]:
    """Write the batch's files, the manifest last; return the manifest's SHA-256 and the receptions written."""
    files, receptions = _batch_csvs(batch)
    entries = []
    for file in itertools.chain(files, _batch_pdfs(batch)):  # PDFs one at a time, each let go once written
        storage.put(batch.prefix + file.name, file.data)
        entries.append(file.manifest_entry())
    manifest = _manifest(batch, entries, receptions)
    storage.put(batch.manifest_key, manifest)  # last: the batch is there once this is
    return hashlib.sha256(manifest).hexdigest(), receptions


def export_flush(*, storage: ObjectStorage | None = None) -> list[str]:
    """Form batches from the pending items and write every batch not yet written (or asked to be re-sent);
    return the manifest keys written. One failing batch never holds up the others."""
    storage = storage or default_storage()
    _batches_form()
    written: list[str] = []
    # A batch whose result was read is never written again: its rows would be keyed in twice.
    due = ExportBatch.objects.filter(Q(written_at=None) | Q(resend_requested=True, result_read_at=None))
    for batch in due.select_related("destination").order_by("pk"):
        try:
            sha256, receptions = _batch_write(batch, storage)
        except (StorageError, ExportRefused, UnsafeCsvValue, OSError) as exc:
            ExportBatch.objects.filter(pk=batch.pk).update(
                attempts=F("attempts") + 1, last_error=str(exc)[:2000]
            )
            logger.warning("export batch %s not written yet: %s", batch.name, exc)
            continue
        with transaction.atomic():
            done = {"attempts": F("attempts") + 1, "last_error": "", "manifest_sha256": sha256}
            # Two flushes may write the same batch at once (same bytes): only one of them records the first write.
            first = bool(
                ExportBatch.objects.filter(pk=batch.pk, written_at=None).update(
                    written_at=timezone.now(), **done
                )
            )
            if not first:
                ExportBatch.objects.filter(pk=batch.pk).update(resend_requested=False, **done)
            # Its pending items are 出力済 from now on (ExportItem.state): no item is rewritten to say so.
            audit_record(
                actor=None,
                action=AuditAction.EXPORT,
                target_type="export_batch",
                target_ref=batch.name,
                detail={"destination": batch.destination.code, "receptions": receptions, "resend": not first},
            )
            if (
                first
            ):  # in the same transaction: the receptions are 連携済 exactly when their batch is written
                export_written_notify(batch.items.values_list("reception_no", flat=True))
        written.append(batch.manifest_key)
    return written


def export_batch_resend(*, batch: ExportBatch, actor: Any) -> None:
    """Write a written batch again at the next flush (the robot lost it, say), under the same keys.

    Raises ExportRefused for a batch whose result was already read: the core system has its rows, and sending
    them again would have them keyed in twice (a refused row is corrected and re-exported instead)."""
    if batch.result_read_at is not None:
        raise ExportRefused(
            f"{batch.name}: its result was read; correct refused rows and re-export them instead"
        )
    if batch.written_at is None:
        raise ExportRefused(f"{batch.name}: not written yet; the next flush writes it")
    if not ExportBatch.objects.filter(pk=batch.pk, result_read_at=None).update(resend_requested=True):
        raise ExportRefused(f"{batch.name}: its result was read meanwhile")
    audit_record(
        actor=actor,
        action=AuditAction.ADMIN,
        target_type="export_batch",
        target_ref=batch.name,
        detail={"action": "resend"},
    )


# --- RPA results ----------------------------------------------------------------------------------------


@dataclass
class ResultProblem:
    line: int
    reception_no: str
    reason: str


def _result_lines(data: bytes) -> list[tuple[int, str, str, str]]:
    """The result file's lines as (line number, 受付番号, 結果, メッセージ). Raises ExportRefused naming the line
    for anything malformed: the file is then rejected whole."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ExportRefused(f"byte {exc.start}: the file is not UTF-8") from exc
    if not text.strip():
        raise ExportRefused("line 1: the file is empty")
    if not text.endswith(("\n", "\r")):
        raise ExportRefused("the last line has no line end: the file may be truncated")
    try:
        records = list(csv.reader(io.StringIO(text, newline=""), strict=True))
    except csv.Error as exc:
        raise ExportRefused(f"CSV: {exc}") from exc
    if tuple(records[0]) != RESULT_HEADER:
        raise ExportRefused(f"line 1: the header must be {','.join(RESULT_HEADER)}")
    if len(records) > MAX_RESULT_LINES:
        raise ExportRefused(f"more than {MAX_RESULT_LINES} lines")
    lines: list[tuple[int, str, str, str]] = []
    seen: set[str] = set()
    for number, record in enumerate(records[1:], start=2):
        if not record:
            continue
        if len(record) != 3:
            raise ExportRefused(f"line {number}: {len(record)} columns, expected 3")
        reception_no, result, message = record
        if not reception_no:
            raise ExportRefused(f"line {number}: 受付番号 is empty")
        if result not in RESULT_VALUES:
            raise ExportRefused(f"line {number}: 結果 must be OK or NG, not {result[:10]!r}")
        if reception_no in seen:
            raise ExportRefused(f"line {number}: 受付番号 {reception_no} is listed twice")
        seen.add(reception_no)
        lines.append((number, reception_no, result, message))
    return lines


def _report(problems: Sequence[ResultProblem], *, rejected: bool) -> bytes:
    rows = [[str(p.line), p.reception_no, p.reason] for p in problems[:MAX_REPORTED]]
    if len(problems) > MAX_REPORTED:
        rows.append(["", "", f"{len(problems) - MAX_REPORTED} more not listed"])
    rows.append(
        ["", "", "the file was rejected: nothing was applied" if rejected else f"{len(problems)} problems"]
    )
    return write_csv(["行", "受付番号", "理由"], rows, check=False)


def export_result_apply(*, batch: ExportBatch, data: bytes, storage: ObjectStorage) -> dict[str, int]:
    """Apply one result file to its batch; return counts (ok, ng, unknown). A malformed file changes nothing and
    leaves a report (``<batch>.result-report.csv``) and the error on the batch."""
    sha256 = hashlib.sha256(data).hexdigest()
    try:
        lines = _result_lines(data)
    except ExportRefused as exc:
        _report_put(
            storage, batch.result_report_key, _report([ResultProblem(0, "", str(exc))], rejected=True)
        )
        ExportBatch.objects.filter(pk=batch.pk).update(
            result_error=str(exc)[:2000], result_counts={"sha256": sha256}
        )
        logger.warning("result file of batch %s rejected: %s", batch.name, exc)
        return {"ok": 0, "ng": 0, "unknown": 0}
    problems: list[ResultProblem] = []
    counts = {"ok": 0, "ng": 0, "unknown": 0}
    with transaction.atomic():
        # One apply per batch, even when two pick-ups overlap.
        locked = ExportBatch.objects.select_for_update().get(pk=batch.pk)
        if locked.result_read_at is not None:
            return counts
        items_by_reception: dict[str, list[int]] = defaultdict(list)
        for pk, reception_no in locked.items.exclude(status=ExportStatus.SUPERSEDED).values_list(
            "pk", "reception_no"
        ):
            items_by_reception[reception_no].append(pk)
        answered = {reception_no for _, reception_no, _, _ in lines}
        if missing := sorted(set(items_by_reception) - answered):
            reason = f"{len(missing)} receptions of the batch have no line, e.g. {', '.join(missing[:3])}"
            missing_lines = [
                ResultProblem(0, no, "no line for this reception of the batch") for no in missing
            ]
            _report_put(storage, batch.result_report_key, _report(missing_lines, rejected=True))
            ExportBatch.objects.filter(pk=batch.pk).update(
                result_error=reason, result_counts={"sha256": sha256}
            )
            logger.warning("result file of batch %s rejected: %s", batch.name, reason)
            return counts
        now = timezone.now()
        for number, reception_no, result, message in lines:
            pks = items_by_reception.get(reception_no)
            if not pks:
                problems.append(ResultProblem(number, reception_no, "the batch holds no such reception"))
                counts["unknown"] += 1
                continue
            ok = result == "OK"
            ExportItem.objects.filter(pk__in=pks).update(
                status=ExportStatus.OK if ok else ExportStatus.NG,
                message=message[:300],
                acknowledged_at=now,
                **({"secrets": "", "secrets_purged_at": now} if ok else {}),
            )
            counts["ok" if ok else "ng"] += 1
        ExportBatch.objects.filter(pk=batch.pk).update(
            result_read_at=now,
            result_error="",
            result_counts={**counts, "sha256": sha256},
            resend_requested=False,
        )
        audit_record(
            actor=None,
            action=AuditAction.IMPORT,
            target_type="export_result",
            target_ref=batch.name,
            detail=counts,
        )
        # A reception is 完了 only when every current row of it is OK (its rows may lie in several batches), and
        # 差戻し while any is refused; told in this transaction, so no answer is lost between the two.
        for reception_no, (ok, message) in _reception_answers(answered & set(items_by_reception)).items():
            export_result_notify(reception_no, ok, message)
    if problems:
        _report_put(storage, batch.result_report_key, _report(problems, rejected=False))
    export_documents_purge()
    return counts


def _reception_answers(reception_nos: set[str]) -> dict[str, tuple[bool, str]]:
    """For each reception: (False, a refusal's message) if any current row is refused, (True, "") if all are
    acknowledged OK; receptions with rows still unanswered are left out."""
    rows: dict[str, list[tuple[str, str]]] = defaultdict(list)
    current = ExportItem.objects.filter(reception_no__in=sorted(reception_nos)).exclude(
        status=ExportStatus.SUPERSEDED
    )
    for reception_no, status, message in current.order_by("pk").values_list(
        "reception_no", "status", "message"
    ):
        rows[reception_no].append((status, message))
    answers: dict[str, tuple[bool, str]] = {}
    for reception_no, states in rows.items():
        refused = [message for status, message in states if status == ExportStatus.NG]
        if refused:
            answers[reception_no] = (False, refused[0])
        elif all(status == ExportStatus.OK for status, _ in states):
            answers[reception_no] = (True, "")
    return answers


def _report_put(storage: ObjectStorage, key: str, data: bytes) -> None:
    """Write a report; storage being down must not undo what was applied (the report is for people)."""
    try:
        storage.put(key, data)
    except StorageError as exc:
        logger.warning("report %s not written: %s", key, exc)


def export_results_pickup(*, storage: ObjectStorage | None = None) -> int:
    """Read the result file of every written batch that has none applied yet; return how many were applied.
    A file already rejected is read again only once the robot has replaced it."""
    storage = storage or default_storage()
    applied = 0
    since = timezone.now() - dt.timedelta(days=settings.MADOGUCHI_EXPORT_RETENTION_DAYS)
    waiting = ExportBatch.objects.filter(written_at__gte=since, result_read_at=None).select_related(
        "destination"
    )
    for batch in waiting.order_by("pk"):
        try:
            if not storage.exists(batch.result_key):
                continue
            data = storage.get(batch.result_key)
        except StorageError as exc:
            logger.warning("result file of batch %s not read: %s", batch.name, exc)
            continue
        if batch.result_counts.get("sha256") == hashlib.sha256(data).hexdigest():
            continue  # the rejected file is still there
        export_result_apply(batch=batch, data=data, storage=storage)
        applied += 1
    return applied


# --- corrections ----------------------------------------------------------------------------------------


def export_item_correct(*, item: ExportItem, rows: list[list[str]], actor: Any) -> ExportItem:
    """Re-export a refused (NG) item with corrected rows as a new revision, which supersedes it. The sealed
    columns are carried over unchanged (nobody sees or types the individual number here).

    Raises ExportRefused or UnsafeCsvValue, naming the row and column, and changes nothing."""
    with transaction.atomic():
        locked = ExportItem.objects.select_for_update().get(pk=item.pk)
        if locked.status != ExportStatus.NG:
            raise ExportRefused(f"{locked.reception_no} {locked.kind}: only a refused row can be corrected")
        if len(rows) != len(locked.rows) or any(len(row) != len(locked.header) for row in rows):
            raise ExportRefused(
                f"{locked.reception_no} {locked.kind}: the corrected rows do not match the layout"
            )
        sealed = set(locked.sealed_columns)
        rows = [["" if index in sealed else value for index, value in enumerate(row)] for row in rows]
        _cells_checked(locked.header, rows, locked.sealed_columns)  # a sealed cell is never typed here
        _degradable(locked.destination, locked.header, rows)
        newer = ExportItem.objects.create(
            kind=locked.kind,
            reception_no=locked.reception_no,
            revision=locked.revision + 1,
            layout=locked.layout,
            header=locked.header,
            rows=rows,
            csv=_encoded(locked.reception_no, rows, locked.sealed_columns),
            row_count=len(rows),
            secrets=locked.secrets,
            sealed_at=locked.sealed_at,
            sealed_columns=locked.sealed_columns,
            destination=locked.destination,
        )
        changed = sorted(
            {
                locked.header[index]
                for old, new in zip(locked.rows, rows, strict=True)
                for index, (a, b) in enumerate(zip(old, new, strict=True))
                if a != b
            }
        )
        locked.status, locked.secrets = ExportStatus.SUPERSEDED, ""
        locked.save(update_fields=["status", "secrets"])
        audit_record(
            actor=actor,
            action=AuditAction.ADMIN,
            target_type="export_item",
            target_ref=locked.reception_no,
            detail={"action": "correct", "kind": locked.kind, "revision": newer.revision, "columns": changed},
        )
        transaction.on_commit(lambda: export_requeued_notify(locked.reception_no))
    return newer


def export_item_sealed_columns(item: ExportItem) -> set[tuple[int, int]]:
    """(row, column) indexes of the item's sealed cells, which the correction page shows as hidden. Known from
    the layout, not from the sealed value: nothing is decrypted to show the page."""
    return {(number, index) for number in range(len(item.rows)) for index in item.sealed_columns}


# --- retention ------------------------------------------------------------------------------------------


def export_secrets_purge(*, now: dt.datetime | None = None) -> int:
    """Purge sealed secrets (the individual number) of rows acknowledged OK, and of every row older than
    MADOGUCHI_INDIVIDUAL_NUMBER_RETENTION_DAYS; return how many rows lost theirs."""
    now = now or timezone.now()
    cutoff = now - dt.timedelta(days=settings.MADOGUCHI_INDIVIDUAL_NUMBER_RETENTION_DAYS)
    purged = (
        ExportItem.objects.exclude(secrets="")
        .filter(Q(status__in=[ExportStatus.OK, ExportStatus.SUPERSEDED]) | Q(sealed_at__lt=cutoff))
        .update(secrets="", secrets_purged_at=now)
    )
    return purged  # the PDFs have their own purge (export_documents_purge), in the same retention run


def export_rows_purge(*, now: dt.datetime | None = None) -> int:
    """Delete the outbox rows (they hold the residents' data as written to the core system) of batches written
    more than MADOGUCHI_EXPORT_ROWS_RETENTION_DAYS ago — except rows still 取込エラー, which wait for a correction.
    Rows not yet written are never deleted. The batches stay, with their counts. Returns how many rows went."""
    now = now or timezone.now()
    cutoff = now - dt.timedelta(days=settings.MADOGUCHI_EXPORT_ROWS_RETENTION_DAYS)
    written_long_ago = Exists(ExportBatch.holding().filter(written_at__lt=cutoff))
    deleted: int = ExportItem.objects.filter(written_long_ago).exclude(status=ExportStatus.NG).delete()[0]
    return deleted


def export_documents_purge(*, now: dt.datetime | None = None) -> int:
    """Delete the PDFs of receptions whose every current row is acknowledged OK, and every PDF older than
    MADOGUCHI_EXPORT_RETENTION_DAYS."""
    now = now or timezone.now()
    cutoff = now - dt.timedelta(days=settings.MADOGUCHI_EXPORT_RETENTION_DAYS)
    open_receptions = ExportItem.objects.exclude(
        status__in=[ExportStatus.OK, ExportStatus.SUPERSEDED]
    ).values("reception_no")
    done = ExportDocument.objects.exclude(reception_no__in=open_receptions).filter(
        reception_no__in=ExportItem.objects.values("reception_no")
    )
    deleted = 0
    for document in [*done, *ExportDocument.objects.filter(created_at__lt=cutoff)]:
        document.pdf.delete(save=False)
        deleted += ExportDocument.objects.filter(pk=document.pk).delete()[0]
    return deleted
