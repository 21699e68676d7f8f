"""System-admin pages of the linkage: the inbound ledger (with errors, reports, retry and skip), the pick-up
log, the column-mapping editor, and the outbound outbox. Resident data itself has no admin page: it is read only
through the audited counter screens."""

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from madoguchi.audit.models import AuditAction
from madoguchi.audit.services import audit_record

from . import services
from .layouts import JUKI_V1_COLUMNS, JUKI_V1_DIFF_COLUMNS
from .models import ColumnMapping, ExportBatch, ExportItem, ImportOrigin, ImportRun, InboundPickup
from .storage import StorageError, default_storage


@admin.register(ImportRun)
class ImportRunAdmin(admin.ModelAdmin):
    list_display = ("seen_at", "source", "kind", "status", "rows", "added", "changed", "removed", "error_count",
                    "seconds", "attempts", "note")  # fmt: skip
    list_filter = ("status", "kind", "origin")
    search_fields = ("source",)
    readonly_fields = [f.name for f in ImportRun._meta.fields if f.name != "errors"] + [
        "report",
        "error_table",
    ]
    exclude = ("errors",)
    actions = ["retry", "skip"]

    def get_urls(self) -> list[Any]:
        report = self.admin_site.admin_view(self.report_download)
        return [path("<int:pk>/report/", report, name="integrations_importrun_report"), *super().get_urls()]

    def report_download(self, request: HttpRequest, pk: int) -> HttpResponse:
        """The rejection report, fetched from the object storage next to the file it reports on."""
        run = get_object_or_404(ImportRun, pk=pk, origin=ImportOrigin.PICKUP)
        if not run.report_key or not self.has_view_permission(request, run):
            raise Http404
        try:
            data = default_storage().get(run.report_key)
        except StorageError as error:
            return HttpResponse(
                f"エラーレポートを読めません: {error}", status=503, content_type="text/plain; charset=utf-8"
            )
        audit_record(
            actor=request.user, action=AuditAction.VIEW, target_type="import_report", target_ref=str(run.pk)
        )
        response = HttpResponse(data, content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="import-{run.pk}-errors.csv"'
        return response

    @admin.display(description="エラーレポート")
    def report(self, run: ImportRun) -> str:
        if not run.report_key:
            return "—"
        if run.origin != ImportOrigin.PICKUP:
            return run.report_key
        url = reverse("admin:integrations_importrun_report", args=[run.pk])
        return format_html('<a href="{}">{}</a>', url, run.report_key)

    @admin.display(description="秒")
    def seconds(self, run: ImportRun) -> str:
        return f"{run.seconds:.1f}" if run.seconds is not None else ""

    @admin.display(description="エラー (先頭100件)")
    def error_table(self, run: ImportRun) -> str:
        if not run.errors:
            return "—"
        rows = format_html_join(
            "", "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
            ((e.get("row") or "", e.get("column", ""), e.get("reason", "")) for e in run.errors),
        )  # fmt: skip
        return format_html("<table><tr><th>行</th><th>列</th><th>理由</th></tr>{}</table>", rows)

    @admin.action(description="次回の定期取込で再試行する (取込失敗のみ)")
    def retry(self, request: HttpRequest, queryset: QuerySet[ImportRun]) -> None:
        for run in queryset:
            services.import_run_retry(run=run)
        self.message_user(request, "取込失敗のファイルを再試行の対象にしました。", messages.SUCCESS)

    @admin.action(description="スキップする (後続の差分を反映できるようにする)")
    def skip(self, request: HttpRequest, queryset: QuerySet[ImportRun]) -> None:
        for run in queryset:
            services.import_run_skip(run=run, actor=request.user)
        self.message_user(request, "選択したファイルをスキップしました。", messages.SUCCESS)

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: Any = None
    ) -> Any:
        # The error reasons may quote values from the file: showing them is a view of personal data.
        audit_record(
            actor=request.user, action=AuditAction.VIEW, target_type="import_errors", target_ref=object_id
        )
        return super().change_view(request, object_id, form_url, extra_context)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(InboundPickup)
class InboundPickupAdmin(admin.ModelAdmin):
    list_display = ("started_at", "ok", "seen", "applied", "message", "finished_at")
    list_filter = ("ok",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ColumnMappingForm(forms.ModelForm):
    """Checks that every target is a canonical 住民記録 v1 column and splits name exactly two."""

    class Meta:
        model = ColumnMapping
        fields = ["name", "description", "columns", "splits", "active"]

    def clean_columns(self) -> dict[str, str]:
        columns = self.cleaned_data["columns"] or {}
        if not isinstance(columns, dict):
            raise forms.ValidationError(
                '列対応は {ベンダーの列名: 標準の列名 または ""} の形で書いてください。'
            )
        for vendor, target in columns.items():
            if target and target not in JUKI_V1_DIFF_COLUMNS:
                raise forms.ValidationError(
                    f"「{vendor}」の対応先「{target}」は住民記録 v1 の列ではありません。"
                )
        return columns

    def clean_splits(self) -> dict[str, list[str]]:
        splits = self.cleaned_data["splits"] or {}
        if not isinstance(splits, dict):
            raise forms.ValidationError(
                "分割は {ベンダーの列名: [標準の列名, 標準の列名]} の形で書いてください。"
            )
        for vendor, targets in splits.items():
            if not (
                isinstance(targets, list) and len(targets) == 2 and all(t in JUKI_V1_COLUMNS for t in targets)
            ):
                raise forms.ValidationError(f"「{vendor}」の分割先は住民記録 v1 の列 2 つにしてください。")
        return splits


@admin.register(ColumnMapping)
class ColumnMappingAdmin(admin.ModelAdmin):
    form = ColumnMappingForm
    list_display = ("name", "description", "active")

    def save_model(self, request: HttpRequest, obj: ColumnMapping, form: Any, change: bool) -> None:
        if obj.active:
            ColumnMapping.objects.exclude(pk=obj.pk).update(active=False)
        super().save_model(request, obj, form, change)


@admin.register(ExportBatch)
class ExportBatchAdmin(admin.ModelAdmin):
    list_display = ("name", "destination", "written_at", "attempts", "last_error")


@admin.register(ExportItem)
class ExportItemAdmin(admin.ModelAdmin):
    list_display = ("created_at", "kind", "reception_no", "revision", "status", "batch")
    readonly_fields = ("kind", "reception_no", "revision", "batch", "created_at")
    exclude = ("header", "row", "secrets")
