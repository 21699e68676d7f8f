from django.contrib import admin

from .models import Device, PrintJob, Terminal


class DeviceInline(admin.TabularInline):
    model = Device
    extra = 0
    readonly_fields = ("kind", "driver", "status", "detail", "updated_at")
    can_delete = False


@admin.register(Terminal)
class TerminalAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "location", "enabled", "last_heartbeat_at", "agent_version")
    list_filter = ("enabled",)
    # The secret reaches the agent only through registration with a one-time code (the status page at
    # /devices/ issues them); it is never shown, nor the code's hash.
    exclude = ("secret", "registration_code_hash")
    readonly_fields = (
        "last_seen_at",
        "last_heartbeat_at",
        "agent_version",
        "agent_started_at",
        "registered_at",
        "registration_expires_at",
        "registration_failures",
    )
    inlines = [DeviceInline]


@admin.register(PrintJob)
class PrintJobAdmin(admin.ModelAdmin):
    list_display = (
        "pk",
        "terminal",
        "kind",
        "title",
        "status",
        "created_at",
        "dispatch_count",
        "finished_at",
    )
    list_filter = ("status", "kind", "terminal")
    exclude = ("pdf", "receipt")
