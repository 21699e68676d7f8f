"""Terminals (counter PCs), their devices, the print jobs sent to their agents, and what the server remembers of
the agents' requests (nonces against replay, event ids against double processing)."""

import secrets
from typing import Any

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class Terminal(models.Model):
    """A counter PC running a device agent that consumes the Celery queue ``terminal.<code>``.

    The agent gets its secret once, by registering with a one-time code an administrator issued (only the code's
    hash is kept here); until then the secret is a random value nobody knows.
    """

    code = models.SlugField(_("端末コード"), max_length=32, unique=True)
    name = models.CharField(_("名称"), max_length=100)
    location = models.CharField(_("設置場所"), max_length=100, blank=True)
    secret = models.CharField(_("端末シークレット"), max_length=128)
    enabled = models.BooleanField(_("有効"), default=True)
    last_seen_at = models.DateTimeField(_("最終通信"), null=True, blank=True)
    last_heartbeat_at = models.DateTimeField(_("最終ハートビート"), null=True, blank=True)
    agent_version = models.CharField(_("エージェントのバージョン"), max_length=64, blank=True)
    agent_started_at = models.DateTimeField(_("エージェント起動日時"), null=True, blank=True)
    registered_at = models.DateTimeField(_("登録日時"), null=True, blank=True)
    registration_code_hash = models.CharField(max_length=64, blank=True)
    registration_expires_at = models.DateTimeField(null=True, blank=True)
    registration_failures = models.PositiveSmallIntegerField(default=0)

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


class DeviceKind(models.TextChoices):
    CARD_READER = "card_reader", _("カードリーダー")
    STAFF_READER = "staff_reader", _("職員証リーダー")
    QR_SCANNER = "qr_scanner", _("QRコードリーダー")
    RECEIPT_PRINTER = "receipt_printer", _("レシートプリンター")
    A4_PRINTER = "a4_printer", _("A4プリンター")


class DeviceStatus(models.TextChoices):
    OK = "ok", _("正常")
    ERROR = "error", _("異常")
    ABSENT = "absent", _("未接続")


class Device(models.Model):
    """One device of a terminal as its agent last reported it in a heartbeat."""

    terminal = models.ForeignKey(Terminal, on_delete=models.CASCADE, related_name="devices")
    kind = models.CharField(_("種類"), max_length=32, choices=DeviceKind.choices)
    driver = models.CharField(_("ドライバー"), max_length=100, blank=True)
    status = models.CharField(_("状態"), max_length=16, choices=DeviceStatus.choices)
    detail = models.CharField(_("詳細"), max_length=300, blank=True)
    updated_at = models.DateTimeField(_("更新日時"))

    class Meta:
        verbose_name = _("機器")
        verbose_name_plural = _("機器")
        constraints = [models.UniqueConstraint(fields=["terminal", "kind"], name="device_terminal_kind")]

    def __str__(self) -> str:
        return f"{self.terminal.code}/{self.kind}"


class TerminalNonce(models.Model):
    """A nonce a terminal's signed request used; a second request with it is a replay. Purged once its
    timestamp could no longer pass the signature check anyway (twice signing.MAX_SKEW_SECONDS)."""

    terminal = models.ForeignKey(Terminal, on_delete=models.CASCADE, related_name="+")
    nonce = models.CharField(max_length=64)
    seen_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["terminal", "nonce"], name="terminal_nonce_once")]

    def __str__(self) -> str:
        return f"{self.terminal_id}:{self.nonce}"


class AgentEvent(models.Model):
    """An event an agent sent with an id, and the answer it got: a resent event gets the same answer without
    being handled again. Only the answer is kept, never the event (a card read carries personal data)."""

    terminal = models.ForeignKey(Terminal, on_delete=models.CASCADE, related_name="+")
    event_id = models.CharField(max_length=32)
    kind = models.CharField(max_length=64)
    answer = models.JSONField(default=dict)
    processed_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["terminal", "event_id"], name="agent_event_once")]

    def __str__(self) -> str:
        return f"{self.terminal_id}:{self.kind}:{self.event_id}"


class PrintKind(models.TextChoices):
    A4 = "a4", _("A4")
    RECEIPT = "receipt", _("レシート")


class PrintStatus(models.TextChoices):
    QUEUED = "queued", _("印刷待ち")
    PRINTED = "printed", _("印刷済")
    FAILED = "failed", _("印刷失敗")


class PrintJob(models.Model):
    """A PDF for a terminal's A4 printer, or a receipt (番号札 …) for its receipt printer. The row is the durable
    state; the queue message only a nudge."""

    terminal = models.ForeignKey(Terminal, on_delete=models.PROTECT, related_name="print_jobs")
    kind = models.CharField(_("種類"), max_length=16, choices=PrintKind.choices, default=PrintKind.A4)
    title = models.CharField(_("文書名"), max_length=200)
    pdf = models.FileField(upload_to="print-jobs/%Y/%m/%d/", blank=True)
    receipt = models.JSONField(_("レシート"), default=dict, blank=True)
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
