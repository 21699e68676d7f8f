from typing import Any

from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "madoguchi.audit"
    label = "audit"
    verbose_name = "監査ログ"

    def ready(self) -> None:
        from django.contrib.admin.models import LogEntry
        from django.db.models.signals import post_save

        post_save.connect(_admin_change, sender=LogEntry, dispatch_uid="audit_admin_change")


def _admin_change(sender: Any, instance: Any, created: bool, **kwargs: Any) -> None:
    """Every change made through the admin site (its LogEntry) goes to the audit log too, hash-chained with the
    rest: which model and object, added / changed / deleted, and the names of the fields changed — never the
    object's text (it may be a person's name) nor the values."""
    if created:
        from .services import audit_admin_change

        audit_admin_change(instance)
