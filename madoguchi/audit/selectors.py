"""Reading the audit log."""

from django.db.models import QuerySet

from .models import AuditEvent


def audit_events_for(*, target_type: str, target_ref: str) -> QuerySet[AuditEvent]:
    """Every audit record about one target, newest first."""
    return AuditEvent.objects.filter(target_type=target_type, target_ref=target_ref)
