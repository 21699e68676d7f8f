"""The built-in roles. Each is a Django group; membership is the role. Cities add their own groups too."""

from collections.abc import Callable
from enum import StrEnum
from typing import Any

from django.contrib.auth.decorators import user_passes_test
from django.utils.translation import gettext_lazy as _


class Role(StrEnum):
    CLERK = "clerk"
    SUPERVISOR = "supervisor"
    FORM_ADMIN = "form_admin"
    SYSTEM_ADMIN = "system_admin"
    AUDITOR = "auditor"


ROLE_LABELS = {
    Role.CLERK: _("窓口職員"),
    Role.SUPERVISOR: _("監督者"),
    Role.FORM_ADMIN: _("申請書管理者"),
    Role.SYSTEM_ADMIN: _("システム管理者"),
    Role.AUDITOR: _("監査担当"),
}


def has_role(user: Any, role: Role) -> bool:
    """True when ``user`` is active and in ``role``'s group."""
    if not getattr(user, "is_authenticated", False) or not getattr(user, "is_active", False):
        return False
    return bool(user.groups.filter(name=role.value).exists())


def role_required(role: Role) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """View decorator: only users in ``role`` get through; others go to the login page."""
    return user_passes_test(lambda user: has_role(user, role))
