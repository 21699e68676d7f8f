"""Writing audit records. Call ``audit_record`` for every view, search, print and export of personal data."""

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction

from .models import AuditAction, AuditEvent


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

CHAIN_BATCH = 2_000


def _link(previous: str, record: AuditEvent) -> str:
    return hashlib.sha256(previous.encode() + b"\n" + record.content()).hexdigest()


def audit_chain() -> int:
    """Chain every record not chained yet, in id order, each hash over the previous one's and its content; return
    how many were chained. Run by beat every minute (and by ``audit_verify``): writing a record never waits for
    another's hash, and a record altered or deleted afterwards breaks every hash after it.

    On PostgreSQL ids are handed out before their transactions commit, so the table is locked against new records
    for the few statements of each step (as the outbox cuts its batches): no record can commit below the chain."""
    chained = 0
    while True:
        with transaction.atomic():
            if connection.vendor == "postgresql":
                with connection.cursor() as cursor:
                    cursor.execute(f"LOCK TABLE {AuditEvent._meta.db_table} IN SHARE ROW EXCLUSIVE MODE")
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
            previous = last or GENESIS
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
    """Recompute the chain over every chained record, in id order. A record changed after it was chained fails
    its own hash; a record deleted, or one put in between, fails the next one's."""
    previous, verified = GENESIS, 0
    for record in AuditEvent.objects.exclude(chain_hash="").order_by("pk").iterator(chunk_size=CHAIN_BATCH):
        if record.chain_hash != _link(previous, record):
            return ChainCheck(
                verified,
                AuditEvent.objects.filter(chain_hash="").count(),
                record.pk,
                "its content or a record before it was changed, deleted or inserted after it was chained",
            )
        previous, verified = record.chain_hash, verified + 1
    unchained = AuditEvent.objects.filter(chain_hash="")
    if first := unchained.filter(
        pk__lt=AuditEvent.objects.exclude(chain_hash="").order_by("-pk").values("pk")[:1]
    ).first():
        return ChainCheck(
            verified, unchained.count(), first.pk, "a record below the chain's end is not chained"
        )
    return ChainCheck(verified, unchained.count())


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
