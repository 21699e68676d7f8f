from typing import Any

from django.apps import AppConfig
from django.db.models.signals import post_migrate


class AccountsConfig(AppConfig):
    name = "madoguchi.accounts"
    label = "accounts"
    verbose_name = "職員・権限"

    def ready(self) -> None:
        from devices.events import event_handler_register

        from . import services

        # The staff reader of a counter PC: a tap opens a card login on that terminal's login page.
        event_handler_register("staff.tapped", services.staff_tapped_event)

        post_migrate.connect(builtin_roles_ensure, sender=self)

        from django.core import checks

        from .second_factor import otp_roles_check

        checks.register(otp_roles_check, checks.Tags.security)


def builtin_roles_ensure(using: str = "default", **kwargs: Any) -> None:
    """After every migrate (and a test database's flush): a missing built-in group is created with its one
    capability. Groups that exist are left as the city configured them."""
    from django.contrib.auth.models import Group, Permission

    from .roles import CAPABILITIES

    for role, (codename, _label) in CAPABILITIES.items():
        group, created = Group.objects.using(using).get_or_create(name=role.value)
        if created:
            group.permissions.add(
                *Permission.objects.using(using).filter(content_type__app_label="accounts", codename=codename)
            )
