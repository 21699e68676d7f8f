from django.contrib import admin
from django.http import HttpRequest

from .models import AuditCheckpoint, AuditEvent


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = ("at", "actor_label", "action", "target_type", "target_ref")
    list_filter = ("action", "target_type")
    search_fields = ("actor_label", "target_ref")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(AuditCheckpoint)
class AuditCheckpointAdmin(admin.ModelAdmin):
    """The retention purges' checkpoints, read-only (``audit_verify`` checks their signatures)."""

    list_display = ("created_at", "through_id", "through_at", "purged")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
