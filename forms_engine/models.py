"""Form templates, their versions and background images, and the field dictionary, stored as data (R-F1 … R-F3).

The content of a version (fields, layout, CSV columns) is JSON in the shape of ``forms_engine.schema``; the
models hold the invariants: a published version and its images never change.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from .schema import FIELD_TYPES, SIGNING_MODES, FieldSpec, VersionSpec


class PublishedVersionImmutable(Exception):
    """An attempt to change a published version; a law change is a new version."""


class FieldDefinition(models.Model):
    """An entry of the field dictionary (項目辞書): one meaning, e.g. 届出人氏名, shared by every form."""

    key = models.SlugField(_("項目キー"), max_length=64, unique=True)
    label = models.CharField(_("項目名"), max_length=100)
    type = models.CharField(_("型"), max_length=16, choices=list(FIELD_TYPES.items()))
    spec = models.JSONField(_("定義"), help_text=_("forms_engine.schema.FieldSpec"))
    updated_at = models.DateTimeField(_("更新日時"), auto_now=True)

    class Meta:
        verbose_name = _("項目辞書")
        verbose_name_plural = _("項目辞書")
        ordering = ["key"]

    def __str__(self) -> str:
        return f"{self.label} ({self.key})"

    def field_spec(self) -> FieldSpec:
        return FieldSpec.model_validate(self.spec)


class FormTemplate(models.Model):
    """A form a city uses (住民異動届, 印鑑登録申請書 …). Its content lives in versions."""

    code = models.SlugField(_("様式コード"), max_length=64, unique=True)
    name = models.CharField(_("様式名"), max_length=200)
    description = models.TextField(_("説明"), blank=True)
    created_at = models.DateTimeField(_("作成日時"), auto_now_add=True)

    class Meta:
        verbose_name = _("申請書様式")
        verbose_name_plural = _("申請書様式")
        ordering = ["code"]

    def __str__(self) -> str:
        return self.name


class VersionStatus(models.TextChoices):
    DRAFT = "draft", _("下書き")
    PUBLISHED = "published", _("公開")


class FormVersion(models.Model):
    """One version of a form (版). A draft is edited freely; a published version never changes, so a reception
    can always be reprinted with the version it used."""

    template = models.ForeignKey(FormTemplate, on_delete=models.PROTECT, related_name="versions")
    number = models.PositiveIntegerField(_("版"))
    status = models.CharField(
        _("状態"), max_length=16, choices=VersionStatus.choices, default=VersionStatus.DRAFT
    )
    effective_from = models.DateField(_("適用開始日"), null=True, blank=True)
    effective_to = models.DateField(_("適用終了日"), null=True, blank=True)
    signing = models.CharField(
        _("署名の方法"), max_length=16, choices=list(SIGNING_MODES.items()), default="paper"
    )
    fields = models.JSONField(_("項目"), default=list, blank=True)
    layout = models.JSONField(_("レイアウト"), default=dict)
    csv_columns = models.JSONField(_("CSV列"), default=list, blank=True)
    note = models.TextField(_("メモ"), blank=True)
    created_at = models.DateTimeField(_("作成日時"), auto_now_add=True)
    updated_at = models.DateTimeField(_("更新日時"), auto_now=True)
    published_at = models.DateTimeField(_("公開日時"), null=True, blank=True)
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        verbose_name = _("様式の版")
        verbose_name_plural = _("様式の版")
        ordering = ["template__code", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["template", "number"], name="form_version_number_once")
        ]

    def __str__(self) -> str:
        return f"{self.template.code} v{self.number}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None and _stored_status(FormVersion, self.pk) == VersionStatus.PUBLISHED:
            raise PublishedVersionImmutable(f"{self} is published and cannot change; make a new version")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        if _stored_status(FormVersion, self.pk) == VersionStatus.PUBLISHED:
            raise PublishedVersionImmutable(f"{self} is published and cannot be deleted")
        return super().delete(*args, **kwargs)

    @property
    def is_published(self) -> bool:
        return self.status == VersionStatus.PUBLISHED

    def content(self) -> dict[str, Any]:
        """The version as the JSON of ``schema.VersionSpec``."""
        return {
            "number": self.number,
            "status": self.status,
            "effective_from": self.effective_from.isoformat() if self.effective_from else None,
            "effective_to": self.effective_to.isoformat() if self.effective_to else None,
            "signing": self.signing,
            "fields": self.fields,
            "layout": self.layout,
            "csv_columns": self.csv_columns,
            "note": self.note,
        }

    def spec(self) -> VersionSpec:
        """The validated content; raises pydantic's ValidationError when a draft is incomplete."""
        return VersionSpec.model_validate(self.content())


def _stored_status(model: type[FormVersion], pk: Any) -> str | None:
    return model.objects.filter(pk=pk).values_list("status", flat=True).first()


class FormAsset(models.Model):
    """A background image (the scanned official form) of one version's overlay page; immutable once its version
    is published."""

    version = models.ForeignKey(FormVersion, on_delete=models.CASCADE, related_name="assets")
    name = models.CharField(_("ファイル名"), max_length=100)
    content_type = models.CharField(_("種類"), max_length=32)
    sha256 = models.CharField(max_length=64)
    data = models.BinaryField(_("内容"))

    class Meta:
        verbose_name = _("背景画像")
        verbose_name_plural = _("背景画像")
        constraints = [models.UniqueConstraint(fields=["version", "name"], name="form_asset_name_once")]

    def __str__(self) -> str:
        return f"{self.version} {self.name}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if _stored_status(FormVersion, self.version_id) == VersionStatus.PUBLISHED:
            raise PublishedVersionImmutable(f"{self.version} is published; its images cannot change")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        if _stored_status(FormVersion, self.version_id) == VersionStatus.PUBLISHED:
            raise PublishedVersionImmutable(f"{self.version} is published; its images cannot change")
        return super().delete(*args, **kwargs)


class RenderStatus(models.TextChoices):
    QUEUED = "queued", _("待ち")
    DONE = "done", _("完了")
    FAILED = "failed", _("失敗")


class PacketRender(models.Model):
    """A packet (several forms of one visit) to render into one PDF on the ``render`` queue. The row is the
    durable state; the queue message only a nudge. The contexts (personal data) are dropped once rendered."""

    reception_no = models.CharField(_("受付番号"), max_length=64, db_index=True)
    status = models.CharField(
        _("状態"), max_length=16, choices=RenderStatus.choices, default=RenderStatus.QUEUED
    )
    forms = models.JSONField(_("様式と内容"), default=list, help_text=_("[{version: id, context: {…}}, …]"))
    pdf = models.BinaryField(_("PDF"), null=True, blank=True)
    pages = models.PositiveIntegerField(_("ページ数"), null=True, blank=True)
    message = models.CharField(_("メッセージ"), max_length=500, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True
    )
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("一括出力")
        verbose_name_plural = _("一括出力")

    def __str__(self) -> str:
        return f"{self.reception_no} #{self.pk}"
