"""The append-only audit log of every person's access to personal data (R-S3)."""

import json
from typing import Any

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class AuditAction(models.TextChoices):
    VIEW = "view", _("閲覧")
    SEARCH = "search", _("検索")
    PRINT = "print", _("印刷")
    EXPORT = "export", _("出力")
    IMPORT = "import", _("取込")
    ADMIN = "admin", _("管理操作")
    SESSION = "session", _("窓口操作")


class AuditEvent(models.Model):
    """Who did what to whose data, when. Records never change once written.

    ``target_ref`` is an identifier (宛名番号, reception number), never a name or address; ``detail`` holds
    the kind of query or the form used, never the query text's personal data.
    """

    at = models.DateTimeField(_("日時"), auto_now_add=True, db_index=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True)
    actor_label = models.CharField(_("操作者"), max_length=150)
    action = models.CharField(_("操作"), max_length=16, choices=AuditAction.choices)
    target_type = models.CharField(_("対象種別"), max_length=32)
    target_ref = models.CharField(_("対象"), max_length=64, blank=True, db_index=True)
    detail = models.JSONField(_("詳細"), default=dict, blank=True)
    # SHA-256 over the previous record's chain_hash and this record's content (services.audit_chain); "" until the
    # chaining job has reached it. The database refuses any other change of a record, and any deletion.
    chain_hash = models.CharField(_("連鎖ハッシュ"), max_length=64, blank=True, editable=False)

    class Meta:
        verbose_name = _("監査記録")
        verbose_name_plural = _("監査記録")
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["id"], condition=models.Q(chain_hash=""), name="audit_unchained")]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.actor_label} {self.action} {self.target_type}:{self.target_ref}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None:
            raise PermissionError("audit records are append-only")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise PermissionError("audit records are append-only")

    def content(self) -> bytes:
        """The record as the chain hashes it: every column but the hash, in a fixed JSON form."""
        return json.dumps(
            [self.pk, self.at.isoformat(), self.actor_id, self.actor_label, self.action, self.target_type,
             self.target_ref, self.detail],
            ensure_ascii=False, sort_keys=True, separators=(",", ":"),
        ).encode()  # fmt: skip


class AuditCheckpoint(models.Model):
    """Where the chain starts after a retention purge: the last purged record's id and hash, signed with the data
    key (``madoguchi.fieldcrypt.sign``) and linked to the checkpoint before it, so the records kept still verify
    and a forged starting point does not."""

    created_at = models.DateTimeField(_("日時"), auto_now_add=True)
    through_id = models.BigIntegerField(_("消去した最後の記録"))
    through_hash = models.CharField(max_length=64)
    through_at = models.DateTimeField(_("その日時"))
    purged = models.PositiveIntegerField(_("消去件数"))
    signature = models.CharField(max_length=64)

    class Meta:
        verbose_name = _("監査ログの区切り")
        verbose_name_plural = _("監査ログの区切り")
        ordering = ["-through_id"]

    def __str__(self) -> str:
        return f"#{self.through_id}"

    def content(self, previous_signature: str) -> bytes:
        return json.dumps(
            [
                self.through_id,
                self.through_hash,
                self.through_at.isoformat(),
                self.purged,
                previous_signature,
            ],
            separators=(",", ":"),
        ).encode()
