from django.contrib import admin

from .models import PrintJob, Terminal


@admin.register(Terminal)
class TerminalAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "last_seen_at")
    # Generated on first save; the agent's MADOGUCHI_TERMINAL_SECRET. (Registration by one-time code: planned.)
    readonly_fields = ("secret", "last_seen_at")


@admin.register(PrintJob)
class PrintJobAdmin(admin.ModelAdmin):
    list_display = ("pk", "terminal", "title", "status", "created_at", "dispatch_count", "finished_at")
    list_filter = ("status", "terminal")
    exclude = ("pdf",)
