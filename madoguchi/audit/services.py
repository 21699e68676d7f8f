"""Writing audit records. Call ``audit_record`` for every view, search, print and export of personal data."""

from typing import Any

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
