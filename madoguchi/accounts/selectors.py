"""Reads of staff accounts."""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from devices.models import Terminal

from .models import CardLogin


def card_login_pending(*, terminal: Terminal) -> CardLogin | None:
    """The tap at ``terminal`` still waiting for its PIN, if any (at most one: a new tap ends the one before)."""
    return (
        CardLogin.objects.select_related("user")
        .filter(terminal=terminal, used_at=None, expires_at__gt=timezone.now())
        .order_by("-created_at", "-pk")
        .first()
    )


def card_login_shown(login: CardLogin) -> dict[str, Any]:
    """What the terminal's login page shows of a pending tap: the token for its PIN form and who tapped."""
    return {
        "token": login.token,
        "name": str(login.user),
        "login_id": login.user.get_username(),
        "expires_at": login.expires_at.isoformat(),
    }


def card_login_snapshot(*, terminal: Terminal) -> dict[str, Any]:
    """What the terminal's login page shows now: the pending tap (token, name, login id), or nothing."""
    login = card_login_pending(terminal=terminal)
    return card_login_shown(login) if login is not None else {}
