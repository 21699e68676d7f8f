"""Writing audit records. Call ``audit_record`` for every view, search, print and export of personal data."""

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import connection, models, transaction
from django.utils import timezone

from madoguchi.db import hold_new_rows
from madoguchi.fieldcrypt import sign, signed

from .models import AuditAction, AuditCheckpoint, AuditEvent


def audit_record(
    *,
    actor: Any,
    action: AuditAction,
    target_type: str,
    target_ref: str = "",
    detail: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append one audit record. ``actor`` is a user, or None for the system (label: ``system``)."""
    user = actor if getattr(actor, "is_authenticated", False) else None
    label = user.get_username() if user is not None else "system"
    return AuditEvent.objects.create(
        actor=user,
        actor_label=label,
        action=action,
        target_type=target_type,
        target_ref=target_ref,
        detail=detail or {},
    )


GENESIS = "0" * 64
"""The chain_hash before the first record."""

CHECKPOINT_PURPOSE = "audit_checkpoint"

CHAIN_BATCH = 2_000


def _link(previous: str, record: AuditEvent) -> str:
    return hashlib.sha256(previous.encode() + b"\n" + record.content()).hexdigest()


def _checkpoint_hash() -> str | None:
    return AuditCheckpoint.objects.order_by("-through_id").values_list("through_hash", flat=True).first()


def audit_chain() -> int:
    """Chain every record not chained yet, in id order, each hash over the previous one's and its content; return
    how many were chained. Run by beat every minute (and by ``audit_verify``): writing a record never waits for
    another's hash, and a record altered or deleted afterwards breaks every hash after it.

    Each step holds back new records for its few statements (``madoguchi.db.hold_new_rows``, as the outbox cuts its
    batches): no record can commit below the chain."""
    chained = 0
    while True:
        with transaction.atomic():
            hold_new_rows(AuditEvent)
            waiting = list(AuditEvent.objects.filter(chain_hash="").order_by("pk")[:CHAIN_BATCH])
            if not waiting:
                return chained
            last = (
                AuditEvent.objects.exclude(chain_hash="")
                .filter(pk__lt=waiting[0].pk)
                .order_by("-pk")
                .values_list("chain_hash", flat=True)
                .first()
            )
            # Where the chain goes on: the last chained record kept, else the last purge's checkpoint, else the start.
            previous = last or _checkpoint_hash() or GENESIS
            for record in waiting:
                record.chain_hash = previous = _link(previous, record)
            AuditEvent.objects.bulk_update(waiting, ["chain_hash"])
            chained += len(waiting)
        if len(waiting) < CHAIN_BATCH:
            return chained


@dataclass
class ChainCheck:
    verified: int
    unchained: int
    broken_at: int | None = None  # the first record whose hash does not follow
    reason: str = ""

    @property
    def ok(self) -> bool:
        return self.broken_at is None


def audit_verify() -> ChainCheck:
    """Recompute the chain over every chained record, in id order, from the genesis or from the last retention
    purge's checkpoint (whose signature, and its link to the checkpoints before it, are checked first). A record
    changed after it was chained fails its own hash; a record deleted, or one put in between, fails the next one's."""
    unchained = AuditEvent.objects.filter(chain_hash="")
    previous, after, signature = GENESIS, 0, ""
    for checkpoint in AuditCheckpoint.objects.order_by("through_id"):
        if not signed(checkpoint.content(signature), checkpoint.signature, purpose=CHECKPOINT_PURPOSE):
            return ChainCheck(
                0,
                unchained.count(),
                checkpoint.through_id,
                "the retention checkpoint ending here is not signed by this installation's data key",
            )
        previous, after, signature = checkpoint.through_hash, checkpoint.through_id, checkpoint.signature
    verified = 0
    kept = AuditEvent.objects.filter(pk__gt=after).exclude(chain_hash="")
    for record in kept.order_by("pk").iterator(chunk_size=CHAIN_BATCH):
        if record.chain_hash != _link(previous, record):
            return ChainCheck(
                verified,
                unchained.count(),
                record.pk,
                "its content or a record before it was changed, deleted or inserted after it was chained",
            )
        previous, verified = record.chain_hash, verified + 1
    end = AuditEvent.objects.exclude(chain_hash="").order_by("-pk").values("pk")[:1]
    if first := unchained.filter(pk__lt=end).first():
        return ChainCheck(
            verified, unchained.count(), first.pk, "a record below the chain's end is not chained"
        )
    return ChainCheck(verified, unchained.count())


def audit_purge(*, now: dt.datetime | None = None) -> int:
    """Delete the records older than MADOGUCHI_AUDIT_RETENTION_DAYS, oldest first and only a chained prefix of the
    log, behind a signed checkpoint of the last one deleted (the records kept verify from it); return how many.
    The purge is itself an audit record."""
    now = now or timezone.now()
    cutoff = now - dt.timedelta(days=settings.MADOGUCHI_AUDIT_RETENTION_DAYS)
    audit_chain()
    with transaction.atomic():
        hold_new_rows(AuditEvent)  # also one purge or chaining at a time
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(
                    "SET LOCAL madoguchi.audit_purge = 'on'"
                )  # the trigger lets this transaction delete
        after = (
            AuditCheckpoint.objects.order_by("-through_id").values_list("through_id", flat=True).first() or 0
        )
        # The prefix: up to (not including) the first record to keep, or the first not chained yet.
        keep = (
            AuditEvent.objects.filter(pk__gt=after)
            .filter(models.Q(at__gte=cutoff) | models.Q(chain_hash=""))
            .order_by("pk")
            .values_list("pk", flat=True)
            .first()
        )
        old = (
            AuditEvent.objects.filter(pk__gt=after)
            if keep is None
            else AuditEvent.objects.filter(pk__gt=after, pk__lt=keep)
        )
        last = old.order_by("-pk").first()
        if last is None:
            return 0
        previous = AuditCheckpoint.objects.order_by("-through_id").first()
        checkpoint = AuditCheckpoint(
            through_id=last.pk, through_hash=last.chain_hash, through_at=last.at, purged=old.count()
        )
        checkpoint.signature = sign(
            checkpoint.content(previous.signature if previous else ""), purpose=CHECKPOINT_PURPOSE
        )
        checkpoint.save()
        purged = old.delete()[0]  # one DELETE: nothing refers to an audit record
        audit_record(
            actor=None,
            action=AuditAction.ADMIN,
            target_type="audit_log",
            detail={
                "kind": "purge",
                "records": purged,
                "through": last.pk,
                "retention_days": settings.MADOGUCHI_AUDIT_RETENTION_DAYS,
            },
        )
    return purged


ADMIN_KINDS = {
    1: "added",
    2: "changed",
    3: "deleted",
}  # django.contrib.admin.models ADDITION, CHANGE, DELETION


def audit_admin_change(entry: Any) -> AuditEvent:
    """The audit record of one admin-site change (a ``LogEntry``)."""
    fields: list[str] = []
    try:
        messages = json.loads(entry.change_message or "[]")
    except ValueError:
        messages = []
    for message in messages if isinstance(messages, list) else []:
        for part in message.values() if isinstance(message, dict) else []:
            if isinstance(part, dict):
                fields += [str(name) for name in part.get("fields", [])]
    content_type = entry.content_type
    return audit_record(
        actor=entry.user,
        action=AuditAction.ADMIN,
        target_type=f"{content_type.app_label}.{content_type.model}" if content_type else "admin",
        target_ref=str(entry.object_id or "")[:64],
        detail={"kind": ADMIN_KINDS.get(entry.action_flag, "other"), "fields": fields, "via": "admin"},
    )
