from django.contrib import admin

from .models import PrintJob, Terminal


@admin.register(Terminal)
class TerminalAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "last_seen_at")
    exclude = ("secret",)


@admin.register(PrintJob)
class PrintJobAdmin(admin.ModelAdmin):
    list_display = ("pk", "terminal", "title", "status", "created_at", "dispatch_count", "finished_at")
    list_filter = ("status", "terminal")
    exclude = ("pdf",)
