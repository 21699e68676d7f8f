"""Template context: the signed-in user's roles, for the navigation."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from .roles import roles_of


def roles(request: HttpRequest) -> dict[str, Any]:
    """``roles``: the built-in roles whose capability the user holds, read once and only when a template asks."""

    def names() -> frozenset[str]:
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return frozenset()
        return roles_of(user)

    return {"roles": SimpleLazyObject(names)}
