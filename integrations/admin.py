from django.contrib import admin

from .models import ExportBatch, ExportItem, ImportRun


@admin.register(ImportRun)
class ImportRunAdmin(admin.ModelAdmin):
    list_display = ("started_at", "source", "status", "rows", "error_count", "finished_at")
    list_filter = ("status",)
    readonly_fields = [f.name for f in ImportRun._meta.fields]


@admin.register(ExportBatch)
class ExportBatchAdmin(admin.ModelAdmin):
    list_display = ("created_at", "kind", "object_key", "written_at", "attempts", "last_error")


@admin.register(ExportItem)
class ExportItemAdmin(admin.ModelAdmin):
    list_display = ("created_at", "kind", "reception_no", "batch")
    readonly_fields = ("kind", "reception_no", "batch", "created_at")
    exclude = ("header", "row")
