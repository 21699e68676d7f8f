"""Roles and what they may do.

What a user may do is a set of **capabilities**: Django permissions of this app (``accounts.serve_counter`` …), one
per built-in role. A role is a group; the five built-in groups (clerk, supervisor, form_admin, system_admin,
auditor) are created with their one capability each, once (migration ``accounts/0004``), and from then on the city
decides in the browser (admin → グループ) which capabilities each group carries, and may add its own groups (say
「窓口リーダー」 with serve_counter and supervise). Code never asks for a group's name, only for a capability:
``has_role(user, Role.CLERK)`` is ``user.has_perm("accounts.serve_counter")``.

Department scope: a user whose 所属 is set acts only on counters of that 所属 (and counters with none), unless they
hold ``accounts.all_departments``; a user with no 所属 is city-wide (system admins, auditors). ``in_scope`` is the
one rule; views, the API and tasks all call it.
"""

from collections.abc import Callable
from enum import StrEnum
from typing import Any

from django.contrib.auth.decorators import user_passes_test
from django.core.exceptions import PermissionDenied
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

# The capability (a permission codename of this app) each built-in role stands for.
CAPABILITIES: dict[Role, tuple[str, Any]] = {
    Role.CLERK: ("serve_counter", _("窓口で受付する（住民の検索・本人確認・申請書の作成と印刷）")),
    Role.SUPERVISOR: ("supervise", _("窓口を監督する（統計・端末の状態）")),
    Role.FORM_ADMIN: ("manage_forms", _("様式と手続ナビを管理する")),
    Role.SYSTEM_ADMIN: ("manage_system", _("システムを管理する（端末・職員・人事異動）")),
    Role.AUDITOR: ("read_audit", _("監査ログを閲覧・出力する")),
}
ALL_DEPARTMENTS = ("all_departments", _("全所属の窓口を扱う（所属による制限を受けない）"))
PERMISSIONS = (*CAPABILITIES.values(), ALL_DEPARTMENTS)


def permission_name(role: Role) -> str:
    return f"accounts.{CAPABILITIES[role][0]}"


def has_role(user: Any, role: Role) -> bool:
    """True when ``user`` is active and one of their groups carries ``role``'s capability."""
    if not getattr(user, "is_authenticated", False) or not getattr(user, "is_active", False):
        return False
    return bool(user.has_perm(permission_name(role)))


def roles_of(user: Any) -> frozenset[str]:
    """The built-in roles whose capability ``user`` holds (for the navigation)."""
    return frozenset(role.value for role in Role if has_role(user, role))


def role_required(role: Role) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """View decorator: signed-out users go to the login page; signed-in users without ``role`` get 403."""
    return any_role_required(role)


def any_role_required(*roles: Role) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Like ``role_required``, for pages any one of several roles may see."""

    def check(user: Any) -> bool:
        if not getattr(user, "is_authenticated", False):
            return False
        if not any(has_role(user, role) for role in roles):
            raise PermissionDenied
        return True

    return user_passes_test(check)


def department_of(user: Any) -> str | None:
    """The 所属 that bounds ``user``, or None when they are city-wide (no 所属, or ``all_departments``)."""
    department = (getattr(user, "department", "") or "").strip()
    if not department or user.has_perm("accounts.all_departments"):
        return None
    return department


def in_scope(user: Any, department: str) -> bool:
    """May ``user`` act on a counter (or its sessions) of ``department``? Counters with no 所属 are shared."""
    bound = department_of(user)
    return bound is None or not department.strip() or department.strip() == bound


def scope_check(user: Any, department: str) -> None:
    """PermissionDenied unless ``in_scope``."""
    if not in_scope(user, department):
        raise PermissionDenied
