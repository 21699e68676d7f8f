from django.contrib import admin
from django.http import HttpRequest

from .models import AuditCheckpoint, AuditEvent


class ReadOnly(admin.ModelAdmin):
    """Shown, never added, changed or deleted here: the audit log changes only by its own services."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnly):
    list_display = ("at", "actor_label", "action", "target_type", "target_ref")
    list_filter = ("action", "target_type")
    search_fields = ("actor_label", "target_ref")


@admin.register(AuditCheckpoint)
class AuditCheckpointAdmin(ReadOnly):
    """The retention purges' checkpoints (``audit_verify`` checks their signatures)."""

    list_display = ("created_at", "through_id", "through_at", "purged")
