"""Writes of the integrations app: importing the resident mirror, queuing and flushing outbound exports."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import uuid
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from madoguchi.audit.models import AuditAction
from madoguchi.audit.services import audit_record
from madoguchi.moji.csvsafe import UnsafeCsvValue, check_cell, write_csv
from madoguchi.moji.kana import kana_search_key

from .juki_import import ResidentFileRejected, parse_date, parse_snapshot
from .layouts import DATE_FIELDS, FLAG_FIELDS, TEXT_FIELDS
from .models import ExportBatch, ExportItem, Household, ImportRun, ImportStatus, Resident
from .storage import ObjectStorage, StorageError, default_storage

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ImportResult:
    source: str
    residents: int
    households: int


def _resident_from_row(row: dict[str, str], household: Household) -> Resident:
    values: dict[str, object] = {field: row[column] for column, field in TEXT_FIELDS.items()}
    values.update({field: parse_date(row[c]) if row[c] else None for c, field in DATE_FIELDS.items()})
    values.update({field: row[c] == "1" for c, field in FLAG_FIELDS.items()})
    kana = row["氏カナ"] + row["名カナ"]
    return Resident(
        atena_no=row["宛名番号"],
        household=household,
        kana_key=kana_search_key(kana or row["英字氏名"]),
        **values,
    )


def _mirror_replace(rows: list[dict[str, str]], run: ImportRun) -> int:
    """Replace every Resident and Household with ``rows`` in one transaction; return the number of households."""
    with transaction.atomic():
        Resident.objects.all().delete()
        Household.objects.all().delete()
        households = Household.objects.bulk_create(
            [Household(setai_no=no) for no in dict.fromkeys(row["世帯番号"] for row in rows)], batch_size=2000
        )
        by_no = {h.setai_no: h for h in households}
        Resident.objects.bulk_create(
            [_resident_from_row(row, by_no[row["世帯番号"]]) for row in rows], batch_size=2000
        )
        run.status = ImportStatus.APPLIED
        run.rows = len(rows)
        run.finished_at = timezone.now()
        run.save()
        audit_record(
            actor=None,
            action=AuditAction.IMPORT,
            target_type="resident_snapshot",
            target_ref=str(run.pk),
            detail={"rows": len(rows)},
        )
    return len(households)


def residents_import_snapshot(*, data: bytes, source: str) -> ImportResult:
    """Replace the resident mirror with a validated 住民記録 v1 full snapshot, in one transaction.

    The whole file is validated first; on any problem ResidentFileRejected is raised, the ledger records the
    rejection with its problems, and the residents already there stay untouched.
    """
    run = ImportRun.objects.create(
        source=source, sha256=hashlib.sha256(data).hexdigest(), status=ImportStatus.RUNNING
    )
    try:
        rows = parse_snapshot(data, source=source)
    except ResidentFileRejected as rejected:
        run.status = ImportStatus.REJECTED
        run.error_count = rejected.total
        run.errors = [{"row": p.row, "column": p.column, "reason": p.reason} for p in rejected.problems]
        run.finished_at = timezone.now()
        run.save()
        logger.warning("resident import rejected: %s (%d problems)", source, rejected.total)
        raise

    try:
        households = _mirror_replace(rows, run)
    except Exception as exc:
        ImportRun.objects.filter(pk=run.pk).update(
            status=ImportStatus.FAILED,
            errors=[{"row": 0, "column": "", "reason": type(exc).__name__}],
            error_count=1,
            finished_at=timezone.now(),
        )
        raise
    logger.info("resident import applied: %s (%d rows)", source, len(rows))
    return ImportResult(source=source, residents=len(rows), households=households)


def enqueue_export(*, kind: str, reception_no: str, header: list[str], row: list[str]) -> ExportItem:
    """Put one reception's CSV row in the outbox. Call it inside the transaction that finishes the reception;
    calling it again for the same (kind, reception_no) changes nothing.

    Raises UnsafeCsvValue (naming the column) for a value a spreadsheet would run as a formula, so the clerk
    corrects it before the reception is finished rather than the export failing later.
    """
    for column, value in zip(header, row, strict=True):
        check_cell(value, row=1, column=column)
    item, _ = ExportItem.objects.get_or_create(
        kind=kind, reception_no=reception_no, defaults={"header": header, "row": row}
    )
    transaction.on_commit(_request_flush)
    return item


def _request_flush() -> None:
    from .tasks import export_flush

    try:
        export_flush.delay()
    except Exception:  # the broker may be down: the beat schedule flushes from the outbox later
        logger.warning("could not queue export_flush; the scheduled flush will pick the rows up")


def _batch_key(kind: str, now: dt.datetime, batch_id: int) -> str:
    local = timezone.localtime(now)
    return f"{settings.OUTBOUND_PREFIX}{kind}/{local:%Y%m%d}/{kind}_{local:%Y%m%d_%H%M%S}_{batch_id:06d}.csv"


def _export_batches_form() -> None:
    """Bind every unbatched outbox row to a new batch per kind and CSV header (a new form version's rows never
    share a file with the old one's), with its object key fixed from now on."""
    with transaction.atomic():
        groups: dict[tuple[str, str], list[int]] = {}
        for pk, kind, header in (
            ExportItem.objects.filter(batch=None).order_by("pk").values_list("pk", "kind", "header")
        ):
            groups.setdefault((kind, json.dumps(header, ensure_ascii=False)), []).append(pk)
        for (kind, _), pks in groups.items():
            batch = ExportBatch.objects.create(kind=kind, object_key=f"pending-{uuid.uuid4().hex}")
            batch.object_key = _batch_key(kind, batch.created_at, batch.pk)
            batch.save(update_fields=["object_key"])
            # A concurrent flush may have bound these rows meanwhile; then this batch stays empty and goes.
            if not ExportItem.objects.filter(pk__in=pks, batch=None).update(batch=batch):
                batch.delete()


def export_flush(*, storage: ObjectStorage | None = None) -> list[str]:
    """Write every pending outbox row to outbound storage; return the keys written.

    Rows are first bound to a batch with a fixed key (durable), then the batch file is written. A batch whose
    write fails stays pending and is written, under the same key, by the next flush; one failing batch never
    holds up the others.
    """
    storage = storage or default_storage()
    _export_batches_form()
    written: list[str] = []
    for batch in ExportBatch.objects.filter(written_at=None).order_by("pk"):
        items = list(batch.items.order_by("pk"))
        if not items:
            continue
        try:
            storage.put(batch.object_key, write_csv(items[0].header, (item.row for item in items)))
        except (StorageError, UnsafeCsvValue) as exc:
            ExportBatch.objects.filter(pk=batch.pk).update(attempts=F("attempts") + 1, last_error=str(exc))
            logger.warning("export batch %s not written yet: %s", batch.pk, exc)
            continue
        ExportBatch.objects.filter(pk=batch.pk).update(
            written_at=timezone.now(), attempts=F("attempts") + 1, last_error=""
        )
        audit_record(
            actor=None,
            action=AuditAction.EXPORT,
            target_type="export_batch",
            target_ref=str(batch.pk),
            detail={"kind": batch.kind, "rows": len(items), "key": batch.object_key},
        )
        written.append(batch.object_key)
    return written
