"""Staff accounts. Roles are Django groups (see roles.py), so a city can configure them without code."""

from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils.translation import gettext_lazy as _

from .roles import PERMISSIONS


class User(AbstractUser):
    """A member of city staff (職員). The username is the login id; ``staff_no`` is the 職員番号."""

    staff_no = models.CharField(_("職員番号"), max_length=32, blank=True, db_index=True)
    display_name = models.CharField(_("表示名"), max_length=100, blank=True)
    department = models.CharField(_("所属"), max_length=100, blank=True)
    # The PIN of the user's staff cards: 4-8 digits, kept only as Django's password hash (services.card_pin_set).
    card_pin_hash = models.CharField(_("カードPIN"), max_length=128, blank=True, editable=False)
    card_pin_failures = models.PositiveSmallIntegerField(_("カードPINの連続誤り"), default=0)
    card_locked_until = models.DateTimeField(_("カードログインのロック期限"), null=True, blank=True)

    class Meta:
        verbose_name = _("職員")
        verbose_name_plural = _("職員")
        # The capabilities the city gives to groups (roles.py); the built-in roles carry one each.
        permissions = [(codename, label) for codename, label in PERMISSIONS]

    def __str__(self) -> str:
        return self.display_name or self.username


class StaffCard(models.Model):
    """A staff IC login card (職員証) registered to a user. The card's ID only identifies (anyone can clone a UID);
    the user's card PIN proves. The ID itself is never stored: ``card_id_digest`` is its keyed HMAC (services)."""

    user = models.ForeignKey(
        User, on_delete=models.CASCADE, related_name="staff_cards", verbose_name=_("職員")
    )
    card_id_digest = models.CharField(_("カードIDのダイジェスト"), max_length=64, unique=True, editable=False)
    label = models.CharField(_("名称"), max_length=100, blank=True, help_text=_("例: 職員証、予備カード"))
    registered_at = models.DateTimeField(_("登録日時"), auto_now_add=True)
    active = models.BooleanField(_("有効"), default=True)

    class Meta:
        verbose_name = _("職員証")
        verbose_name_plural = _("職員証")

    def __str__(self) -> str:
        return self.label or f"{_('職員証')} {self.card_id_digest[:8]}"


class CardLogin(models.Model):
    """One tap of a staff card at a terminal, waiting for its PIN for a short while. ``token`` goes to the bound
    browser of that terminal only; it is good for one login, before ``expires_at``."""

    terminal = models.ForeignKey("devices.Terminal", on_delete=models.CASCADE, related_name="card_logins")
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="card_logins")
    token = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("カードログイン")
        verbose_name_plural = _("カードログイン")
        indexes = [models.Index(fields=["terminal", "expires_at"])]

    def __str__(self) -> str:
        return f"{self.terminal_id}#{self.pk}"


class StaffUpdate(models.Model):
    """One staff file (人事異動) uploaded by a system admin: previewed, then confirmed; its changes apply on their
    異動日 (accounts/personnel.py)."""

    filename = models.CharField(_("ファイル名"), max_length=255)
    uploaded_by = models.ForeignKey(
        User, on_delete=models.PROTECT, related_name="+", verbose_name=_("取込者")
    )
    uploaded_at = models.DateTimeField(_("取込日時"), auto_now_add=True)
    rows = models.PositiveIntegerField(_("行数"), default=0)
    unchanged = models.PositiveIntegerField(_("変更なし"), default=0)
    confirmed_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.PROTECT, related_name="+", verbose_name=_("確定者")
    )
    confirmed_at = models.DateTimeField(_("確定日時"), null=True, blank=True)
    cancelled_at = models.DateTimeField(_("取消日時"), null=True, blank=True)

    class Meta:
        verbose_name = _("人事異動")
        verbose_name_plural = _("人事異動")
        ordering = ["-uploaded_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.filename} ({self.uploaded_at:%Y-%m-%d})"


class StaffChangeKind(models.TextChoices):
    NEW = "new", _("新規")
    CHANGED = "changed", _("異動")
    LEAVING = "leaving", _("転出・退職")


class StaffChange(models.Model):
    """What one staff member's row changes, as previewed. The IC card's ID is kept only as its digest."""

    update = models.ForeignKey(StaffUpdate, on_delete=models.CASCADE, related_name="changes")
    line = models.PositiveIntegerField(_("行"), null=True, blank=True)
    kind = models.CharField(_("種別"), max_length=16, choices=StaffChangeKind.choices)
    staff_no = models.CharField(_("職員番号"), max_length=32)
    name = models.CharField(_("氏名"), max_length=100, blank=True)
    department_from = models.CharField(_("所属（前）"), max_length=100, blank=True)
    department_to = models.CharField(_("所属（後）"), max_length=100, blank=True)
    roles_from = models.JSONField(_("役割（前）"), default=list)
    roles_to = models.JSONField(_("役割（後）"), default=list)
    card_digest = models.CharField(max_length=64, blank=True, editable=False)
    effective_on = models.DateField(_("異動日"))
    applied_at = models.DateTimeField(_("適用日時"), null=True, blank=True)

    class Meta:
        verbose_name = _("人事異動の変更")
        verbose_name_plural = _("人事異動の変更")
        ordering = ["effective_on", "line", "pk"]
        indexes = [models.Index(fields=["applied_at", "effective_on"])]

    def __str__(self) -> str:
        return f"{self.staff_no} {self.get_kind_display()}"
