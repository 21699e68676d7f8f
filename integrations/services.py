"""Writes of the integrations app: importing the resident mirror, queuing and flushing outbound exports."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import logging
import re
import threading
import time
import uuid
import zoneinfo
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import IO, Any

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.db.models import QuerySet
from django.utils import timezone

from madoguchi.audit.models import AuditAction
from madoguchi.audit.services import audit_record
from madoguchi.moji.csvsafe import FORMULA_PREFIXES

from . import mirror
from .juki_import import (
    DIFF_CODES,
    MAX_REPORTED_PROBLEMS,
    FileProblem,
    JukiReader,
    MappingSpec,
    NotMergeable,
    ResidentFileRejected,
    snapshot_line_digests,
    snapshot_lines,
)
from .mirror import MergeRefused, SnapshotLoad, SnapshotMerge, diff_apply, residents_existing
from .models import (
    ColumnMapping,
    ImportKind,
    ImportOrigin,
    ImportRun,
    ImportStatus,
    InboundLease,
    InboundPickup,
)

# The outbox (integrations.outbound): its public entry points, re-exported.
from .outbound import (
    ExportRefused as ExportRefused,
)
from .outbound import (
    ExportRows as ExportRows,
)
from .outbound import (
    export_batch_resend as export_batch_resend,
)
from .outbound import (
    export_flush as export_flush,
)
from .outbound import (
    export_item_correct as export_item_correct,
)
from .outbound import (
    export_result_apply as export_result_apply,
)
from .outbound import (
    export_results_pickup as export_results_pickup,
)
from .outbound import (
    export_secrets_purge as export_secrets_purge,
)
from .outbound import (
    outbox_put as outbox_put,
)
from .storage import ObjectStorage, StorageError, default_storage

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ImportResult:
    source: str
    kind: str
    rows: int
    added: int = 0
    changed: int = 0
    removed: int = 0


def mapping_spec(name: str | None) -> MappingSpec | None:
    """The column mapping called ``name`` as plain data; None for the canonical layout."""
    if not name:
        return None
    mapping = ColumnMapping.objects.filter(name=name).first()
    if mapping is None:
        raise ResidentFileRejected(name, [FileProblem(0, "", f"no column mapping named {name!r}")], total=1)
    return MappingSpec(name=mapping.name, columns=mapping.columns, splits=mapping.splits)


HEARTBEAT_ROWS = 100_000


def _snapshot_apply(
    stream: IO[bytes], *, source: str, mapping: MappingSpec | None, heartbeat: Callable[[], None]
) -> ImportResult:
    """A full snapshot: applied as the difference it makes when the mirror holds residents (SnapshotMerge),
    else — or when the merge gives way — by rebuilding the mirror from the whole file (SnapshotLoad)."""
    if mirror.residents_present():
        try:
            return _snapshot_merge(stream, source=source, mapping=mapping, heartbeat=heartbeat)
        except (NotMergeable, MergeRefused) as why:
            logger.info("resident snapshot read in full: %s", why)
        stream.seek(0)
    return _snapshot_rebuild(stream, source=source, mapping=mapping, heartbeat=heartbeat)


def _snapshot_merge(
    stream: IO[bytes], *, source: str, mapping: MappingSpec | None, heartbeat: Callable[[], None]
) -> ImportResult:
    """Pass 1 hashes every line, SQL finds the lines not in the mirror as they are, pass 2 reads and checks only
    those; then one short write. Any problem in a line read raises MergeRefused, so the full reader judges the
    file and writes its report; nothing has changed by then (the transaction rolls back)."""
    with transaction.atomic():
        merge = SnapshotMerge()
        try:
            for first, digests in snapshot_line_digests(stream, mapping=mapping):
                merge.scan(first, digests)
                heartbeat()
            numbers = merge.delta_lines()
            stream.seek(0)
            reader = JukiReader(
                snapshot_lines(stream, numbers), source=source, mapping=mapping, one_line_records=True
            )
            for line, row, digest in reader.records():
                merge.add(line, row, digest)
            if reader.problems.total:
                raise MergeRefused(f"{reader.problems.total} problem(s) in the new or changed lines")
            rows, added, changed, removed = merge.apply()
        except BaseException:
            merge.discard()
            raise
    return ImportResult(
        source=source, kind=ImportKind.FULL, rows=rows, added=added, changed=changed, removed=removed
    )


def _snapshot_rebuild(
    stream: IO[bytes], *, source: str, mapping: MappingSpec | None, heartbeat: Callable[[], None]
) -> ImportResult:
    reader = JukiReader(stream, source=source, mapping=mapping)
    with transaction.atomic():
        load = SnapshotLoad()
        for line, row, digest in reader.records():
            if not reader.problems.total:
                load.add(line, row, digest)
                if load.rows % HEARTBEAT_ROWS == 0:
                    heartbeat()
        if not reader.problems.total:
            count, duplicates = load.duplicates(limit=MAX_REPORTED_PROBLEMS)
            for atena, lines in duplicates:
                reader.problems.add(
                    lines[1], "宛名番号", f"duplicate 宛名番号 {atena} (rows {', '.join(map(str, lines))})"
                )
            reader.problems.total += count - len(duplicates)
        if reader.problems.total:
            load.discard()
            raise reader.rejection()
        load.replace()
    return ImportResult(source=source, kind=ImportKind.FULL, rows=load.rows)


def _diff_apply(
    stream: IO[bytes], *, source: str, mapping: MappingSpec | None, heartbeat: Callable[[], None]
) -> ImportResult:
    reader = JukiReader(stream, source=source, diff=True, mapping=mapping)
    rows: dict[str, tuple[int, dict[str, str], bytes]] = {}
    for line, row, digest in reader.records():
        atena = row["宛名番号"]
        if atena in rows:
            reader.problems.add(
                line, "宛名番号", f"宛名番号 {atena} appears twice (first in row {rows[atena][0]})"
            )
        rows[atena] = (line, row, digest)
    existing = residents_existing(list(rows))
    for atena, (line, row, _digest) in rows.items():
        kubun = row["処理区分"]
        if kubun == "1" and atena in existing:
            reader.problems.add(line, "宛名番号", f"追加 of {atena}, who is already in the resident data")
        elif kubun in {"2", "3"} and atena not in existing:
            reader.problems.add(
                line, "宛名番号", f"{DIFF_CODES[kubun]} of {atena}, who is not in the resident data"
            )
    if reader.problems.total:
        raise reader.rejection()
    by_kind: dict[str, list[tuple[dict[str, str], bytes]]] = {"1": [], "2": [], "3": []}
    for _, row, digest in rows.values():
        by_kind[row["処理区分"]].append((row, digest))
    diff_apply(
        added=by_kind["1"], changed=by_kind["2"], removed=[row["宛名番号"] for row, _digest in by_kind["3"]]
    )
    return ImportResult(
        source=source, kind=ImportKind.DIFF, rows=len(rows),
        added=len(by_kind["1"]), changed=len(by_kind["2"]), removed=len(by_kind["3"]),
    )  # fmt: skip


def error_report_csv(problems: Sequence[FileProblem], total: int) -> bytes:
    """The rejection report written next to a file: 行, 列, 理由 (UTF-8 with BOM for spreadsheet users)."""
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(["行", "列", "理由"])
    for problem in problems:
        # A leading quote keeps a spreadsheet from running a header name taken from the file as a formula.
        column = f"'{problem.column}" if problem.column.startswith(FORMULA_PREFIXES) else problem.column
        writer.writerow([problem.row or "", column, problem.reason])
    if total > len(problems):
        writer.writerow(["", "", f"… 他 {total - len(problems)} 件 (合計 {total} 件)"])
    return b"\xef\xbb\xbf" + buffer.getvalue().encode("utf-8")


def residents_import(
    *,
    storage: ObjectStorage,
    key: str,
    kind: str,
    mapping: str | None = None,
    run: ImportRun | None = None,
    heartbeat: Callable[[], None] = lambda: None,
) -> ImportResult:
    """Validate and apply one 住民記録 v1 file (``kind`` full or diff) from ``storage``, recording it in the ledger.

    A file with any problem is rejected whole: nothing changes, the ledger row holds the problems (capped, with
    the total) and a report ``<key>.errors.csv`` is written next to the file. Storage or database trouble
    marks the run ``failed`` (retried by the next pick-up) and re-raises.
    """
    source = storage.describe(key)
    if run is None:
        # A file named by the rule takes its place in the order of pick-ups too.
        named = inbound_name(key)
        run = ImportRun.objects.create(
            source=source, key=key, origin=ImportOrigin.COMMAND, kind=kind, mapping=mapping or "",
            status=ImportStatus.RUNNING, stamp=named.stamp if named else None, seq=named.seq if named else None,
        )  # fmt: skip
    run.started_at, run.attempts, run.status = timezone.now(), run.attempts + 1, ImportStatus.RUNNING
    run.save(update_fields=["started_at", "attempts", "status"])
    apply = _snapshot_apply if kind == ImportKind.FULL else _diff_apply
    try:
        with storage.open(key) as stream:
            digest = hashlib.file_digest(stream, "sha256").hexdigest()  # type: ignore[arg-type]
            ImportRun.objects.filter(pk=run.pk).update(sha256=digest)
            stream.seek(0)
            result = apply(stream, source=source, mapping=mapping_spec(mapping), heartbeat=heartbeat)
    except ResidentFileRejected as rejected:
        _ledger_rejected(run, storage, key, rejected)
        raise
    except Exception as exc:  # storage, database or a bug: recorded, retried by the next pick-up
        ImportRun.objects.filter(pk=run.pk).update(
            status=ImportStatus.FAILED, note=f"{type(exc).__name__}: {exc}"[:500], finished_at=timezone.now()
        )
        raise
    ImportRun.objects.filter(pk=run.pk).update(
        status=ImportStatus.APPLIED, rows=result.rows, added=result.added, changed=result.changed,
        removed=result.removed, finished_at=timezone.now(), note="", errors=[], error_count=0,
    )  # fmt: skip
    audit_record(
        actor=None,
        action=AuditAction.IMPORT,
        target_type="resident_file",
        target_ref=str(run.pk),
        detail={"kind": kind, "rows": result.rows},
    )
    logger.info("resident %s file applied: run %s (%d rows)", kind, run.pk, result.rows)
    return result


def _ledger_rejected(
    run: ImportRun, storage: ObjectStorage, key: str, rejected: ResidentFileRejected
) -> None:
    report_key = f"{key}.errors.csv"
    try:
        storage.put(report_key, error_report_csv(rejected.problems, rejected.total))
    except StorageError:
        report_key = ""
    ImportRun.objects.filter(pk=run.pk).update(
        status=ImportStatus.REJECTED, error_count=rejected.total, report_key=report_key,
        errors=[{"row": p.row, "column": p.column, "reason": p.reason} for p in rejected.problems[:100]],
        finished_at=timezone.now(),
    )  # fmt: skip
    logger.warning("resident file rejected: run %s (%d problems)", run.pk, rejected.total)


# --- Scheduled pick-up ----------------------------------------------------------------------------------

INBOUND_NAME = re.compile(r"^JUKI_(?P<stamp>\d{14})_(?P<seq>\d{6})_(?P<kind>FULL|DIFF)\.csv$")
"""The naming rule: ``JUKI_<YYYYMMDDhhmmss>_<NNNNNN>_<FULL|DIFF>.csv`` — the core system's extraction time
(JST) and a sequence number fix the order in which files are applied."""

LEASE_SECONDS = 30 * 60
LEASE_RENEW_SECONDS = 60


@dataclass(frozen=True)
class InboundName:
    kind: str
    stamp: dt.datetime
    seq: int


def inbound_name(key: str) -> InboundName | None:
    """Parse an inbound object's name by the naming rule; None when it does not follow it."""
    match = INBOUND_NAME.match(PurePosixPath(key).name)
    if match is None:
        return None
    try:
        naive = dt.datetime.strptime(match["stamp"], "%Y%m%d%H%M%S")
    except ValueError:
        return None
    stamp = timezone.make_aware(naive, zoneinfo.ZoneInfo(settings.TIME_ZONE))
    kind = ImportKind.FULL if match["kind"] == "FULL" else ImportKind.DIFF
    return InboundName(kind=kind, stamp=stamp, seq=int(match["seq"]))


def _lease_take(holder: str) -> bool:
    InboundLease.objects.get_or_create(
        name="inbound", defaults={"until": timezone.now() - dt.timedelta(days=1)}
    )
    now = timezone.now()
    return bool(InboundLease.objects.filter(name="inbound", until__lt=now).update(
        holder=holder, until=now + dt.timedelta(seconds=LEASE_SECONDS)
    ))  # fmt: skip


def _lease_release(holder: str) -> None:
    InboundLease.objects.filter(name="inbound", holder=holder).update(until=timezone.now())


def inbound_pickup(*, storage: ObjectStorage | None = None) -> InboundPickup:
    """Look at the inbound prefix once: record new objects in the ledger, then apply what is due, in order.

    Order is (stamp, seq) from the naming rule. A file older than the newest applied snapshot is skipped. The
    newest pending snapshot is applied first; once it has applied, the pending files before it are skipped as
    superseded. A rejected file blocks the files after it (applying them could corrupt the mirror) until an
    operator skips it or a newer snapshot applies. Storage or database trouble stops the cycle; the next one
    retries from the ledger.
    """
    storage = storage or default_storage()
    pickup = InboundPickup.objects.create()
    holder = uuid.uuid4().hex
    if not _lease_take(holder):
        pickup.message = "another pick-up is still running"
        pickup.finished_at = timezone.now()
        pickup.save()
        return pickup
    try:
        # Holding the lease, no other pick-up is importing: a row left 取込中 was cut off (a worker died).
        ImportRun.objects.filter(origin=ImportOrigin.PICKUP, status=ImportStatus.RUNNING).update(
            status=ImportStatus.FAILED, note="interrupted; will be tried again"
        )
        keys = storage.list(settings.INBOUND_PREFIX)
        pickup.seen = _ledger_record_new(keys, storage)
        pickup.applied, pickup.message = _inbound_apply_due(storage, _LeaseKeeper(holder))
        pickup.ok = not pickup.message
    except StorageError as exc:
        pickup.message = f"storage unreachable: {exc}"[:500]
        logger.warning("inbound pick-up: storage unreachable")
    finally:
        _lease_release(holder)
        pickup.finished_at = timezone.now()
        pickup.save()
    return pickup


class _LeaseKeeper:
    """Renews the pick-up lease while a file is imported, at most every LEASE_RENEW_SECONDS.

    From a connection of its own: the import's connection is inside a long transaction (a renewal made there
    would be invisible to other pick-ups until the end) and often inside a COPY (where it would wait forever)."""

    def __init__(self, holder: str) -> None:
        self.holder = holder
        self.renewed = time.monotonic()

    def __call__(self) -> None:
        if connection.vendor == "sqlite" or time.monotonic() - self.renewed < LEASE_RENEW_SECONDS:
            # SQLite has one writer, the import: a renewal would wait for its end. The embedded default runs
            # one pick-up at a time anyway (beat inside the one worker), and LEASE_SECONDS outlasts its files.
            return
        self.renewed = time.monotonic()
        thread = threading.Thread(target=self._renew, name="inbound-lease")
        thread.start()
        thread.join()

    def _renew(self) -> None:
        try:
            InboundLease.objects.filter(name="inbound", holder=self.holder).update(
                until=timezone.now() + dt.timedelta(seconds=LEASE_SECONDS)
            )
        except DatabaseError as exc:
            logger.warning("inbound pick-up: the lease could not be renewed (%s)", type(exc).__name__)
        finally:
            connection.close()  # this thread's own connection


def _ledger_record_new(keys: list[str], storage: ObjectStorage) -> int:
    known = set(ImportRun.objects.filter(origin=ImportOrigin.PICKUP).values_list("source", flat=True))
    by_command = set(
        ImportRun.objects.filter(origin=ImportOrigin.COMMAND, status=ImportStatus.APPLIED).values_list(
            "source", flat=True
        )
    )
    active = ColumnMapping.objects.filter(active=True).values_list("name", flat=True).first() or ""
    new = 0
    for key in keys:
        source = storage.describe(key)
        if key.endswith(".errors.csv") or source in known:
            continue  # our own reports, and objects already in the ledger
        name = inbound_name(key)
        run = ImportRun(source=source, key=key, origin=ImportOrigin.PICKUP, mapping=active)
        if name is None:
            run.status, run.note = (
                ImportStatus.IGNORED,
                "the name does not follow the rule JUKI_<stamp>_<seq>_<FULL|DIFF>.csv",
            )
        else:
            run.status, run.kind, run.stamp, run.seq = ImportStatus.PENDING, name.kind, name.stamp, name.seq
            if source in by_command:
                run.status, run.note = ImportStatus.SKIPPED, "already imported by import_residents"
        run.save()
        new += 1
    return new


def _order(run: ImportRun) -> tuple[dt.datetime, int]:
    assert run.stamp is not None and run.seq is not None
    return run.stamp, run.seq


def _ordered_runs() -> QuerySet[ImportRun]:
    """Every ledger row that takes part in ordering: named by the rule (pick-up, or a command import)."""
    return ImportRun.objects.exclude(stamp=None).exclude(status=ImportStatus.IGNORED)


def _skip(run: ImportRun, why: str) -> None:
    ImportRun.objects.filter(pk=run.pk).update(
        status=ImportStatus.SKIPPED, note=why, finished_at=timezone.now()
    )


def _inbound_apply_due(storage: ObjectStorage, renew: Callable[[], None]) -> tuple[int, str]:
    """Apply due files in order; return (files applied, a message when the cycle stopped early)."""
    applied_full = _ordered_runs().filter(status=ImportStatus.APPLIED, kind=ImportKind.FULL)
    current = max((_order(r) for r in applied_full), default=None)
    due = sorted(
        _ordered_runs().filter(
            origin=ImportOrigin.PICKUP, status__in=[ImportStatus.PENDING, ImportStatus.FAILED]
        ),
        key=_order,
    )
    for run in [r for r in due if current is not None and _order(r) < current]:
        _skip(run, "older than the snapshot applied")
    due = [r for r in due if current is None or _order(r) > current]
    count = 0
    newest_full = max((r for r in due if r.kind == ImportKind.FULL), key=_order, default=None)
    if newest_full is not None:  # a snapshot stands alone: nothing rejected before it holds it up
        outcome = _apply_one(storage, newest_full, renew)
        if outcome == ImportStatus.FAILED:
            return count, f"stopped: {newest_full.source} could not be read or applied"
        if outcome == ImportStatus.APPLIED:
            count += 1
            current = _order(newest_full)
            for run in due:
                if _order(run) < current:
                    _skip(run, f"superseded by the newer snapshot {PurePosixPath(newest_full.key).name}")
            due = [r for r in due if _order(r) > current]
        else:
            due = [r for r in due if r.pk != newest_full.pk]
    for run in due:
        blocker = _diff_blocker(_order(run), current) if run.kind == ImportKind.DIFF else None
        if blocker is not None:
            return count, f"waiting: {blocker}"
        outcome = _apply_one(storage, run, renew)
        if outcome == ImportStatus.FAILED:
            return count, f"stopped: {run.source} could not be read or applied"
        if outcome == ImportStatus.REJECTED:
            return count, f"stopped: {run.source} was rejected"
        count += 1
        if run.kind == ImportKind.FULL:
            current = _order(run)
    return count, ""


def _apply_one(storage: ObjectStorage, run: ImportRun, renew: Callable[[], None]) -> str:
    renew()
    try:
        residents_import(storage=storage, key=run.key, kind=run.kind, mapping=run.mapping or None, run=run,
                         heartbeat=renew)  # fmt: skip
    except ResidentFileRejected:
        return ImportStatus.REJECTED
    except Exception as exc:  # recorded as failed by residents_import; the next pick-up retries
        logger.warning("inbound pick-up stopped at run %s: %s", run.pk, type(exc).__name__)
        return ImportStatus.FAILED
    return ImportStatus.APPLIED


def _diff_blocker(order: tuple[dt.datetime, int], current: Any) -> str | None:
    """Why a difference must wait: an earlier file after the current snapshot was rejected."""
    for earlier in _ordered_runs().filter(status=ImportStatus.REJECTED):
        earlier_order = _order(earlier)
        if earlier_order < order and (current is None or earlier_order > current):
            return f"{earlier.source} was rejected; skip it or send a new snapshot"
    return None


def import_run_retry(*, run: ImportRun) -> None:
    """Admin action: a failed pick-up entry is tried again by the next pick-up."""
    if run.status == ImportStatus.FAILED:
        ImportRun.objects.filter(pk=run.pk).update(status=ImportStatus.PENDING, note="retry requested")


def import_run_skip(*, run: ImportRun, actor: Any) -> None:
    """Admin action: set a rejected difference aside so the differences after it can be applied."""
    if run.status in {ImportStatus.REJECTED, ImportStatus.FAILED, ImportStatus.PENDING}:
        ImportRun.objects.filter(pk=run.pk).update(status=ImportStatus.SKIPPED, note=f"skipped by {actor}")
        audit_record(
            actor=actor,
            action=AuditAction.ADMIN,
            target_type="import_run",
            target_ref=str(run.pk),
            detail={"action": "skip"},
        )
