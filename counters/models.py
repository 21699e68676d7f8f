"""Counters and the counter sessions that follow one visit (R-C1, R-C2)."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class Counter(models.Model):
    """A counter (窓口) of a department, with the terminal (counter PC) that drives its devices."""

    code = models.SlugField(_("窓口コード"), max_length=32, unique=True)
    name = models.CharField(_("名称"), max_length=100)
    department = models.CharField(_("所属"), max_length=100, blank=True)
    terminal = models.ForeignKey("devices.Terminal", null=True, blank=True, on_delete=models.SET_NULL)

    class Meta:
        verbose_name = _("窓口")
        verbose_name_plural = _("窓口")

    def __str__(self) -> str:
        return self.name


class SessionState(models.TextChoices):
    RECEPTION = "reception", _("受付")
    IDENTIFIED = "identified", _("本人確認")
    FINISHED = "finished", _("完了")


class CounterSession(models.Model):
    """One visit at a counter, from reception to finish. ``reception_no`` (受付番号) names it everywhere."""

    counter = models.ForeignKey(Counter, on_delete=models.PROTECT, related_name="sessions")
    clerk = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT)
    reception_no = models.CharField(_("受付番号"), max_length=32, unique=True)
    state = models.CharField(
        _("状態"), max_length=16, choices=SessionState.choices, default=SessionState.RECEPTION
    )
    atena_no = models.CharField(_("宛名番号"), max_length=20, blank=True)
    form_code = models.CharField(_("様式"), max_length=64, blank=True)
    form_version = models.PositiveIntegerField(_("様式の版"), null=True, blank=True)
    print_job = models.ForeignKey("devices.PrintJob", null=True, blank=True, on_delete=models.SET_NULL)
    opened_at = models.DateTimeField(_("受付日時"), auto_now_add=True)
    identified_at = models.DateTimeField(_("本人確認日時"), null=True, blank=True)
    finished_at = models.DateTimeField(_("完了日時"), null=True, blank=True)

    class Meta:
        verbose_name = _("窓口セッション")
        verbose_name_plural = _("窓口セッション")
        ordering = ["-opened_at"]

    def __str__(self) -> str:
        return self.reception_no
