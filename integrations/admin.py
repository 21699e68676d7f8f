"""System-admin pages of the linkage: the inbound ledger (with errors, reports, retry and skip), the pick-up
log, the column-mapping editor, and the outbound outbox. Resident data itself has no admin page: it is read only
through the audited counter screens."""

import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Exists, QuerySet, Subquery
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import formats, timezone
from django.utils.html import format_html, format_html_join
from django.utils.text import Truncator
from django.utils.translation import gettext, pgettext_lazy
from django.utils.translation import gettext_lazy as _

from madoguchi.audit.models import AuditAction
from madoguchi.audit.services import audit_record
from madoguchi.moji.csvsafe import UnsafeCsvValue

from . import outbound, services
from .layouts import JUKI_V1_COLUMNS, JUKI_V1_DIFF_COLUMNS
from .models import (
    ColumnMapping,
    ExportBatch,
    ExportDestination,
    ExportItem,
    ExportStatus,
    ImportOrigin,
    ImportRun,
    InboundPickup,
    shown_status,
)
from .storage import StorageError, default_storage

if TYPE_CHECKING:
    from django.contrib.admin.filters import _ListFilterChoices


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


# --- the outbound outbox --------------------------------------------------------------------------------------

NAME_SEPARATORS = re.compile(r"[,，、]")
ITEMS_SHOWN = 500  # of a batch's items on its page; the item list shows them all
SEALED_TEXT = _("（暗号化のため表示しません）")
LINE_BREAK = re.compile(r"\r\n|\r|\n")
PLACE_NAMED = re.compile(r"row (?P<row>\d+), column (?P<column>.+?): ")  # as outbound's refusals name a cell


class NameListField(forms.Field):
    """A list of names (CSV column names, kinds) typed one a line or separated by commas (「,」「、」)."""

    widget = forms.Textarea(attrs={"rows": 3, "cols": 40})

    def prepare_value(self, value: Any) -> Any:
        return "\n".join(value) if isinstance(value, list) else value

    def to_python(self, value: Any) -> list[str]:
        names: list[str] = []
        for number, line in enumerate(str(value or "").splitlines(), start=1):
            if not line.strip():
                continue
            for name in (part.strip() for part in NAME_SEPARATORS.split(line)):
                if not name:
                    raise forms.ValidationError(
                        _("%(line)s 行目に空の名前があります（区切りが続いています）。"),
                        params={"line": number},
                    )
                if name in names:
                    raise forms.ValidationError(_("「%(name)s」が二度あります。"), params={"name": name})
                names.append(name)
        return names


class ExportDestinationForm(forms.ModelForm):
    degraded_columns = NameListField(
        label=_("縮退列を付ける列"),
        required=False,
        help_text=_("JIS X 0213までの出力先で「<列名>_JIS」を付ける列。1行に1つ、またはカンマ区切り。"),
    )
    kinds = NameListField(
        label=_("様式"),
        required=False,
        help_text=_("この出力先に送る様式の種類。空なら、他の出力先が指定しない様式をすべて受けます。"),
    )

    class Meta:
        model = ExportDestination
        fields = ["code", "name", "prefix", "bom", "repertoire", "degraded_columns", "kinds", "active"]

    def clean_prefix(self) -> str:
        prefix: str = self.cleaned_data["prefix"]
        # Batch keys are the prefix followed by the date folder, so it must be a folder of the storage.
        if not prefix.endswith("/") or prefix.startswith("/") or ".." in prefix.split("/") or "\\" in prefix:
            raise forms.ValidationError(_("「outbound/」のように、「/」で終わる相対パスにしてください。"))
        # Batches keep the prefix they were formed with; a new prefix is for the batches formed from now on.
        return prefix

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if cleaned.get("active") and cleaned.get("kinds"):
            others = ExportDestination.objects.filter(active=True).exclude(pk=self.instance.pk)
            for other in others:
                shared = sorted(set(other.kinds) & set(cleaned["kinds"]))
                if shared:
                    self.add_error(
                        "kinds",
                        _("「%(kinds)s」は有効な出力先「%(other)s」も指定しています。")
                        % {"kinds": "、".join(shared), "other": other.code},
                    )
        return cleaned


@admin.register(ExportDestination)
class ExportDestinationAdmin(admin.ModelAdmin):
    """Where each kind of outbound CSV goes. A destination is turned off (有効), never deleted: its batches
    refer to it."""

    form = ExportDestinationForm
    list_display = ("code", "name", "prefix", "bom", "repertoire", "kinds", "active")
    list_filter = ("active", "repertoire")

    def save_model(self, request: HttpRequest, obj: ExportDestination, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        # A destination holds configuration only (no personal data), so its old and new values are recorded.
        audit_record(
            actor=request.user,
            action=AuditAction.ADMIN,
            target_type="export_destination",
            target_ref=obj.code,
            detail={
                "action": "change" if change else "add",
                "changes": {
                    name: [form.initial.get(name) if change else None, form.cleaned_data.get(name)]
                    for name in form.changed_data
                },
            },
        )

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class DestinationFilter(admin.RelatedFieldListFilter):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.title = str(_("出力先"))


class OutboxDisplays:
    """Columns of the batch and item pages whose model fields have no Japanese name."""

    @admin.display(description=_("出力先"), ordering="destination__name")
    def destination_name(self, obj: ExportBatch | ExportItem) -> str:
        return obj.destination.name

    @admin.display(description=_("作成日時"), ordering="created_at")
    def created(self, obj: ExportBatch | ExportItem) -> Any:
        return obj.created_at


class WrittenFilter(admin.SimpleListFilter):
    title = _("出力")
    parameter_name = "written"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [("yes", pgettext_lazy("export batch", "出力済")), ("no", _("未出力"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet[ExportBatch]) -> QuerySet[ExportBatch]:
        if self.value() in ("yes", "no"):
            return queryset.filter(written_at__isnull=self.value() == "no")
        return queryset


class ResultReadFilter(admin.SimpleListFilter):
    title = _("結果ファイル")
    parameter_name = "result"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [("yes", _("取込済")), ("no", _("未取込")), ("rejected", _("エラーで不採用"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet[ExportBatch]) -> QuerySet[ExportBatch]:
        if self.value() == "yes":
            return queryset.filter(result_read_at__isnull=False)
        if self.value() == "no":
            return queryset.filter(result_read_at=None)
        if self.value() == "rejected":
            return queryset.filter(result_read_at=None).exclude(result_error="")
        return queryset


@admin.register(ExportBatch)
class ExportBatchAdmin(OutboxDisplays, admin.ModelAdmin):
    """The batches written to the object storage, read-only, with their items (never their values) and a re-send
    action for a batch the robot lost."""

    list_display = ("batch_name", "destination_name", "created", "written_at", "attempts", "last_error_short",
                    "result_ok", "result_ng", "result_unknown", "result_error_short")  # fmt: skip
    list_filter = (("destination", DestinationFilter), WrittenFilter, ResultReadFilter)
    list_select_related = ("destination",)
    ordering = ("-day", "-seq")
    fields = ("batch_name", "destination_name", "created", "written_at", "attempts", "last_error",
              "resend_requested", "manifest", "result_read_at", "result_ok", "result_ng", "result_unknown",
              "result_error", "result_report", "item_table")  # fmt: skip
    readonly_fields = fields
    actions = ["resend"]

    def get_urls(self) -> list[Any]:
        report = self.admin_site.admin_view(self.result_report_download)
        return [
            path("<int:pk>/result-report/", report, name="integrations_exportbatch_result_report"),
            *super().get_urls(),
        ]

    def result_report_download(self, request: HttpRequest, pk: int) -> HttpResponse:
        """The report on the robot's result file, fetched from the object storage next to it."""
        batch = get_object_or_404(ExportBatch.objects.select_related("destination"), pk=pk)
        if not self.has_view_permission(request, batch):
            raise Http404
        try:
            data = default_storage().get(batch.result_report_key)
        except StorageError as error:
            return HttpResponse(
                gettext("結果レポートを読めません: %(error)s") % {"error": error},
                status=503,
                content_type="text/plain; charset=utf-8",
            )
        audit_record(
            actor=request.user,
            action=AuditAction.VIEW,
            target_type="export_result_report",
            target_ref=batch.name,
        )
        response = HttpResponse(data, content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{batch.name}.result-report.csv"'
        return response

    @admin.display(description=_("バッチ"), ordering="day")
    def batch_name(self, batch: ExportBatch) -> str:
        return batch.name

    @admin.display(description=_("マニフェストのSHA-256"))
    def manifest(self, batch: ExportBatch) -> str:
        return batch.manifest_sha256 or "—"

    @admin.display(description=_("エラー"))
    def last_error_short(self, batch: ExportBatch) -> str:
        return Truncator(batch.last_error).chars(80)

    @admin.display(description=_("結果ファイルのエラー"))
    def result_error_short(self, batch: ExportBatch) -> str:
        return Truncator(batch.result_error).chars(80)

    def _result_count(self, batch: ExportBatch, name: str) -> str:
        return str(batch.result_counts.get(name, "")) if batch.result_read_at else "—"

    @admin.display(description="OK")
    def result_ok(self, batch: ExportBatch) -> str:
        return self._result_count(batch, "ok")

    @admin.display(description="NG")
    def result_ng(self, batch: ExportBatch) -> str:
        return self._result_count(batch, "ng")

    @admin.display(description=_("不明"))
    def result_unknown(self, batch: ExportBatch) -> str:
        return self._result_count(batch, "unknown")

    @admin.display(description=_("結果レポート"))
    def result_report(self, batch: ExportBatch) -> str:
        # A report is written when the result file was rejected or named receptions the batch does not hold.
        if not (batch.result_error or batch.result_counts.get("unknown")):
            return "—"
        url = reverse("admin:integrations_exportbatch_result_report", args=[batch.pk])
        return format_html('<a href="{}">{}</a>', url, batch.result_report_key)

    @admin.display(description=_("出力行"))
    def item_table(self, batch: ExportBatch) -> str:
        items = batch.items.order_by("pk")
        total = items.count()
        rows = format_html_join(
            "",
            '<tr><td><a href="{}">{}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>',
            (
                (
                    reverse("admin:integrations_exportitem_change", args=[item.pk]),
                    item.reception_no,
                    item.kind,
                    item.revision,
                    ExportStatus(shown_status(item.status, written=batch.written_at is not None)).label,
                    item.message,
                )
                for item in items[:ITEMS_SHOWN]
            ),
        )
        more = ""
        if total > ITEMS_SHOWN:
            url = reverse("admin:integrations_exportitem_changelist")
            more = format_html(
                '<p><a href="{}?batch={}&amp;status=all">{}</a></p>',
                url,
                batch.pk,
                gettext("全 %(total)s 行を一覧で見る") % {"total": total},
            )
        return format_html(
            "<table><tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr>{}</table>{}",
            gettext("受付番号"), gettext("様式"), gettext("版"), gettext("状態"), gettext("メッセージ"), rows, more,
        )  # fmt: skip

    def has_resend_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.has_perm("integrations.change_exportbatch"))

    @admin.action(description=_("再送"), permissions=["resend"])
    def resend(self, request: HttpRequest, queryset: QuerySet[ExportBatch]) -> None:
        """Write the selected batches again, under the same keys, at the next flush. A batch not yet written is
        written by that flush anyway."""
        written, refused = [], []
        for batch in queryset.exclude(written_at=None):
            try:
                outbound.export_batch_resend(batch=batch, actor=request.user)
            except outbound.ExportRefused:
                refused.append(batch)
            else:
                written.append(batch)
        if refused:
            self.message_user(
                request,
                gettext(
                    "%(names)s は結果を取り込み済みのため再送しません（取込エラーの行は訂正して再出力してください）。"
                )
                % {"names": "、".join(b.name for b in refused)},
                messages.WARNING,
            )
        if written:
            self.message_user(
                request,
                gettext("%(names)s を次回の出力で再送します。")
                % {"names": "、".join(b.name for b in written)},
                messages.SUCCESS,
            )
        skipped = queryset.count() - len(written) - len(refused)
        if skipped:
            self.message_user(
                request,
                gettext("未出力のバッチ %(count)s 件は再送の対象外です（次回の出力で書かれます）。")
                % {"count": skipped},
                messages.WARNING,
            )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # a batch changes only through the outbox; its page is read-only

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ExportItemStatusFilter(admin.SimpleListFilter):
    """The items' status as shown (出力済 = pending in a written batch): the refused ones (取込エラー) unless
    another is chosen, since they are what a system admin opens this list for."""

    title = _("状態")
    parameter_name = "status"
    ALL = "all"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        ng = [(value, label) for value, label in ExportStatus.choices if value == ExportStatus.NG]
        others = [(value, label) for value, label in ExportStatus.choices if value != ExportStatus.NG]
        return [*ng, *others, (self.ALL, _("すべて"))]

    def _current(self) -> str:
        return self.value() or ExportStatus.NG

    def queryset(self, request: HttpRequest, queryset: QuerySet[ExportItem]) -> QuerySet[ExportItem]:
        current = self._current()
        if current == self.ALL:
            return queryset
        written = Exists(ExportBatch.holding().exclude(written_at=None))
        if current == ExportStatus.SENT:
            return queryset.filter(written, status=ExportStatus.PENDING)
        if current == ExportStatus.PENDING:
            return queryset.filter(~written, status=ExportStatus.PENDING)
        return queryset.filter(status=current)

    def choices(self, changelist: Any) -> Iterator["_ListFilterChoices"]:
        for lookup, title in self.lookup_choices:
            yield {
                "selected": self._current() == str(lookup),
                "query_string": changelist.get_query_string({self.parameter_name: lookup}),
                "display": title,
            }


class ExportItemBatchFilter(admin.SimpleListFilter):
    """The items of one batch (a batch's page links here), chosen among the latest batches."""

    title = _("バッチ")
    parameter_name = "batch"
    LATEST = 20

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        batches = list(ExportBatch.objects.order_by("-pk")[: self.LATEST])
        chosen = self.value()
        if chosen and chosen.isdigit() and all(str(b.pk) != chosen for b in batches):
            batches += list(ExportBatch.objects.filter(pk=int(chosen)))
        return [(str(b.pk), b.name) for b in batches]

    def queryset(self, request: HttpRequest, queryset: QuerySet[ExportItem]) -> QuerySet[ExportItem]:
        chosen = self.value()
        if not chosen:
            return queryset
        batch = ExportBatch.objects.filter(pk=int(chosen)).first() if chosen.isdigit() else None
        if batch is None:
            return queryset.none()
        return queryset.filter(pk__in=batch.items.values("pk"))


class ExportItemCorrectionForm(forms.Form):
    """A refused item's rows, a text input per cell. A sealed cell (the individual number) is shown disabled,
    never filled in, and never read back."""

    def __init__(self, *args: Any, item: ExportItem, sealed: set[tuple[int, int]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.item, self.sealed = item, sealed
        for r, row in enumerate(item.rows):
            for c, value in enumerate(row):
                if (r, c) in sealed:
                    field = forms.CharField(required=False, disabled=True, initial=SEALED_TEXT)
                else:
                    # A value with a line break needs a textarea (a text input drops line breaks).
                    widget: forms.Widget = (
                        forms.Textarea(attrs={"rows": 2, "cols": 60})
                        if "\n" in value or "\r" in value
                        else forms.TextInput(attrs={"size": 60})
                    )
                    field = forms.CharField(required=False, strip=False, initial=value, widget=widget)
                field.label = item.header[c]
                self.fields[self.cell_name(r, c)] = field

    @staticmethod
    def cell_name(row: int, column: int) -> str:
        return f"r{row}_c{column}"

    def row_fields(self) -> list[tuple[int, list[forms.BoundField]]]:
        """Each row's number (from 1) and its cells' bound fields, for the template."""
        return [
            (r + 1, [self[self.cell_name(r, c)] for c in range(len(row))])
            for r, row in enumerate(self.item.rows)
        ]

    def corrected_rows(self) -> list[list[str]]:
        """The rows as typed, sealed cells "". A cell sent back as the browser sends its stored value keeps the
        stored value byte for byte (a textarea sends every line break as CRLF)."""
        rows: list[list[str]] = []
        for r, row in enumerate(self.item.rows):
            cells: list[str] = []
            for c, stored in enumerate(row):
                if (r, c) in self.sealed:
                    cells.append("")
                    continue
                sent: str = self.cleaned_data[self.cell_name(r, c)]
                cells.append(stored if sent == LINE_BREAK.sub("\r\n", stored) else sent)
            rows.append(cells)
        return rows

    def mark_cell(self, message: str) -> None:
        """Show ``message`` on the cell it names (「row N, column X」), if any, besides at the top."""
        self.add_error(None, message)
        named = PLACE_NAMED.search(message)
        if not named:
            return
        r, column = int(named["row"]) - 1, named["column"]
        if 0 <= r < len(self.item.rows) and column in self.item.header:
            name = self.cell_name(r, self.item.header.index(column))
            self.add_error(name, gettext("この値を訂正してください。"))


@admin.register(ExportItem)
class ExportItemAdmin(OutboxDisplays, admin.ModelAdmin):
    """The outbox's rows, read-only and without their values; a refused (取込エラー) reception is corrected on
    its own page, which shows the values (audited) and re-exports them as a new revision."""

    change_list_template = "admin/integrations/exportitem/change_list.html"
    list_display = ("created", "reception_no", "kind", "revision", "state", "message", "batch_link",
                    "correction")  # fmt: skip
    list_filter = (ExportItemStatusFilter, "kind", ("destination", DestinationFilter), ExportItemBatchFilter)
    search_fields = ("=reception_no",)
    fields = ("reception_no", "kind", "revision", "layout", "destination_name", "batch_link", "state", "message",
              "created", "acknowledged_at", "sealed", "correction")  # fmt: skip
    readonly_fields = fields

    def get_urls(self) -> list[Any]:
        correct = self.admin_site.admin_view(self.correct_view)
        return [
            path("<int:pk>/correct/", correct, name="integrations_exportitem_correct"),
            *super().get_urls(),
        ]

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> Any:
        refused = ExportItem.objects.filter(status=ExportStatus.NG).count()
        return super().changelist_view(request, {**(extra_context or {}), "refused_count": refused})

    def get_queryset(self, request: HttpRequest) -> QuerySet[ExportItem]:
        # The batch of each row in the same query (a batch holds an id range; the row names no batch).
        holding = ExportBatch.holding()
        return (
            super()
            .get_queryset(request)
            .annotate(
                batch_pk=Subquery(holding.values("pk")[:1]),
                batch_day=Subquery(holding.values("day")[:1]),
                batch_seq=Subquery(holding.values("seq")[:1]),
                batch_written=Exists(holding.exclude(written_at=None)),
            )
        )

    @admin.display(description=_("状態"), ordering="status")
    def state(self, item: Any) -> str:
        return str(ExportStatus(shown_status(item.status, written=item.batch_written)).label)

    @admin.display(description=_("バッチ"), ordering="batch_pk")
    def batch_link(self, item: Any) -> str:
        if item.batch_pk is None:
            return "—"
        url = reverse("admin:integrations_exportbatch_change", args=[item.batch_pk])
        return format_html('<a href="{}">{}</a>', url, f"{item.batch_day:%Y%m%d}-{item.batch_seq:04d}")

    @admin.display(description=_("暗号化した値（個人番号）"))
    def sealed(self, item: ExportItem) -> str:
        if item.secrets:
            return gettext("保持（書き出しと訂正で引き継ぎます）")
        if item.secrets_purged_at:
            return gettext("消去済み（%(at)s）") % {
                "at": formats.localize(timezone.localtime(item.secrets_purged_at))
            }
        return "—"

    @admin.display(description=_("訂正"))
    def correction(self, item: ExportItem) -> str:
        if item.status != ExportStatus.NG:
            return "—"
        url = reverse("admin:integrations_exportitem_correct", args=[item.pk])
        return format_html('<a href="{}">{}</a>', url, gettext("訂正して再出力"))

    def correct_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """A refused item's rows as a form. Showing them is a view of personal data and audited; saving them
        re-exports them as a new revision (outbound.export_item_correct, which audits the correction)."""
        if not request.user.has_perm("integrations.change_exportitem"):
            raise PermissionDenied
        item = get_object_or_404(ExportItem.objects.select_related("destination"), pk=pk)
        change_url = reverse("admin:integrations_exportitem_change", args=[item.pk])
        if item.status != ExportStatus.NG:
            self.message_user(
                request,
                gettext("受付 %(reception_no)s の %(kind)s は取込エラーではないため、訂正できません。")
                % {"reception_no": item.reception_no, "kind": item.kind},
                messages.WARNING,
            )
            return redirect(change_url)
        sealed = outbound.export_item_sealed_columns(item)
        form = ExportItemCorrectionForm(
            request.POST if request.method == "POST" else None, item=item, sealed=sealed
        )
        if form.is_bound and form.is_valid():
            try:
                outbound.export_item_correct(item=item, rows=form.corrected_rows(), actor=request.user)
            except (outbound.ExportRefused, UnsafeCsvValue) as error:
                form.mark_cell(str(error))
            else:
                self.message_user(
                    request,
                    gettext("受付 %(reception_no)s を再出力待ちにしました。")
                    % {"reception_no": item.reception_no},
                    messages.SUCCESS,
                )
                return redirect("admin:integrations_exportitem_changelist")
        # Audited when shown again after a refusal too: the typed values are the stored ones, corrected.
        audit_record(
            actor=request.user,
            action=AuditAction.VIEW,
            target_type="export_item",
            target_ref=item.reception_no,
            detail={"kind": item.kind, "revision": item.revision},
        )
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": gettext("取込エラーの訂正"),
            "subtitle": str(item),
            "item": item,
            "form": form,
        }
        return TemplateResponse(request, "admin/integrations/exportitem/correct.html", context)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # the page is read-only; a refused item is corrected on its correction page

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
