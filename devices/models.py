"""Terminals (counter PCs) and the print jobs sent to their agents."""

import secrets
from typing import Any

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class Terminal(models.Model):
    """A counter PC running a device agent that consumes the Celery queue ``terminal.<code>``."""

    code = models.SlugField(_("端末コード"), max_length=32, unique=True)
    name = models.CharField(_("名称"), max_length=100)
    secret = models.CharField(_("端末シークレット"), max_length=128)
    last_seen_at = models.DateTimeField(_("最終通信"), null=True, blank=True)

    class Meta:
        verbose_name = _("端末")
        verbose_name_plural = _("端末")

    def __str__(self) -> str:
        return self.code

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self.secret:
            self.secret = secrets.token_urlsafe(32)
        super().save(*args, **kwargs)

    @property
    def queue(self) -> str:
        return f"terminal.{self.code}"


class PrintStatus(models.TextChoices):
    QUEUED = "queued", _("印刷待ち")
    PRINTED = "printed", _("印刷済")
    FAILED = "failed", _("印刷失敗")


class PrintJob(models.Model):
    """A PDF to print on a terminal's A4 printer. The row is the durable state; the queue message only a nudge."""

    terminal = models.ForeignKey(Terminal, on_delete=models.PROTECT, related_name="print_jobs")
    title = models.CharField(_("文書名"), max_length=200)
    pdf = models.FileField(upload_to="print-jobs/%Y/%m/%d/")
    status = models.CharField(
        _("状態"), max_length=16, choices=PrintStatus.choices, default=PrintStatus.QUEUED
    )
    message = models.CharField(_("メッセージ"), max_length=300, blank=True)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT)
    created_at = models.DateTimeField(auto_now_add=True)
    dispatched_at = models.DateTimeField(null=True, blank=True)
    dispatch_count = models.PositiveIntegerField(default=0)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("印刷ジョブ")
        verbose_name_plural = _("印刷ジョブ")

    def __str__(self) -> str:
        return f"{self.terminal.code}#{self.pk}"
