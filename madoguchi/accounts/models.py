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
