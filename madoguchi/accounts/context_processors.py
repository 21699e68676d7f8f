"""Template context: the signed-in user's role names, for the navigation."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject


def roles(request: HttpRequest) -> dict[str, Any]:
    """``roles``: the names of the user's groups, read once and only when a template asks."""

    def names() -> frozenset[str]:
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return frozenset()
        return frozenset(user.groups.values_list("name", flat=True))

    return {"roles": SimpleLazyObject(names)}
