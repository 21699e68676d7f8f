"""Staff accounts. Roles are Django groups (see roles.py), so a city can configure them without code."""

from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils.translation import gettext_lazy as _


class User(AbstractUser):
    """A member of city staff (職員). The username is the login id; ``staff_no`` is the 職員番号."""

    staff_no = models.CharField(_("職員番号"), max_length=32, blank=True, db_index=True)
    display_name = models.CharField(_("表示名"), max_length=100, blank=True)
    department = models.CharField(_("所属"), max_length=100, blank=True)

    class Meta:
        verbose_name = _("職員")
        verbose_name_plural = _("職員")

    def __str__(self) -> str:
        return self.display_name or self.username
