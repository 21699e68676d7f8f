"""Form templates and their versions, stored as data (R-F2, R-F3)."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class FormTemplate(models.Model):
    """A form a city uses (住民異動届, 印鑑登録申請書 …). Its content lives in versions."""

    code = models.SlugField(_("様式コード"), max_length=64, unique=True)
    name = models.CharField(_("様式名"), max_length=200)

    class Meta:
        verbose_name = _("申請書様式")
        verbose_name_plural = _("申請書様式")

    def __str__(self) -> str:
        return self.name


class VersionStatus(models.TextChoices):
    DRAFT = "draft", _("下書き")
    PUBLISHED = "published", _("公開")


class FormVersion(models.Model):
    """One version of a form: its HTML/CSS layout (sandboxed Jinja2) and its CSV columns for RPA.

    A published version never changes; a law change is a new version.
    """

    template = models.ForeignKey(FormTemplate, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField(_("版"))
    status = models.CharField(
        _("状態"), max_length=16, choices=VersionStatus.choices, default=VersionStatus.DRAFT
    )
    effective_from = models.DateField(_("適用開始日"), null=True, blank=True)
    body = models.TextField(_("本文テンプレート"))
    css = models.TextField(_("スタイル"), blank=True)
    csv_columns = models.JSONField(
        _("CSV列"), default=list, help_text=_("[[header, template expression], …]")
    )

    class Meta:
        verbose_name = _("様式の版")
        verbose_name_plural = _("様式の版")
        constraints = [
            models.UniqueConstraint(fields=["template", "number"], name="form_version_number_once")
        ]

    def __str__(self) -> str:
        return f"{self.template.code} v{self.number}"
