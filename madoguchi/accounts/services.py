"""Writes of staff accounts: staff IC cards (職員証), their PIN, and the card login at a counter PC.

A card's ID identifies, the user's card PIN proves. Neither is stored in clear or logged: the ID is kept as a keyed
HMAC (``card_id_digest``), the PIN as Django's password hash. A tap at a terminal (the agent's ``staff.tapped``
event) opens a ``CardLogin`` for that terminal's bound browser; its PIN completes it (``card_login_complete``).
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
from typing import Any

from django.conf import settings
from django.contrib.auth.hashers import check_password, make_password
from django.db import transaction
from django.utils import timezone
from django.utils.crypto import salted_hmac

from devices.models import Terminal
from madoguchi import push
from madoguchi.audit.models import AuditAction
from madoguchi.audit.services import audit_record

from .models import CardLogin, StaffCard, User
from .selectors import card_login_shown

_DIGEST_SALT = "madoguchi.accounts.staff-card-id"
_CARD_ID = re.compile(r"(?:[0-9A-F]{2}){4,32}")
_CARD_ID_NOISE = re.compile(r"[\s:\-]")
_PIN = re.compile(r"[0-9]{4,8}")


def card_id_normalise(raw: str) -> str:
    """The card ID as upper-case hex without separators; ValueError (which never quotes the ID) otherwise.

    Accepts what readers and people type: ``04 a2:3b-…``. A UID is 4, 7 or 10 bytes, a FeliCa IDm 8."""
    if not isinstance(raw, str):
        raise ValueError("a card ID is a string of hex digits")
    card_id = _CARD_ID_NOISE.sub("", raw).upper()
    if not _CARD_ID.fullmatch(card_id):
        raise ValueError(
            f"a card ID is 8-64 hex digits, an even number of them (got {len(card_id)} characters "
            "after removing spaces, ':' and '-')"
        )
    return card_id


def card_id_digest(card_id: str) -> str:
    """HMAC-SHA256 of the normalised ID, keyed from SECRET_KEY: a leaked table does not give the IDs back without
    the key. Changing SECRET_KEY makes every registered card unknown (register them again)."""
    return salted_hmac(_DIGEST_SALT, card_id_normalise(card_id), algorithm="sha256").hexdigest()


def login_topic(terminal: Terminal) -> str:
    """The push topic of a terminal's card-login page."""
    return f"terminal:{terminal.code}:login"


# --- cards and PINs --------------------------------------------------------------------------------------------


class CardRegistrationError(ValueError):
    """A card that cannot be registered (already registered, malformed ID); the message says why, in Japanese."""


def staff_card_register(
    *, user: User, card_id: str, label: str = "", active: bool = True, actor: Any
) -> StaffCard:
    """Register a card for ``user``; audited without the ID."""
    try:
        digest = card_id_digest(card_id)
    except ValueError as exc:
        raise CardRegistrationError("カードIDは16進数で8〜64桁（偶数桁）で入力してください。") from exc
    with transaction.atomic():
        if StaffCard.objects.filter(card_id_digest=digest).exists():
            raise CardRegistrationError("このカードは既に登録されています。")
        card = StaffCard.objects.create(user=user, card_id_digest=digest, label=label, active=active)
        _audit_card(card, actor=actor, kind="card_registered")
    return card


def staff_card_update(*, card: StaffCard, actor: Any) -> StaffCard:
    """Save a card's label or active flag (the admin's edits); audited."""
    with transaction.atomic():
        card.save(update_fields=["label", "active"])
        _audit_card(card, actor=actor, kind="card_changed")
    return card


def staff_card_delete(*, card: StaffCard, actor: Any) -> None:
    with transaction.atomic():
        _audit_card(card, actor=actor, kind="card_deleted")
        card.delete()


def _audit_card(card: StaffCard, *, actor: Any, kind: str) -> None:
    audit_record(
        actor=actor,
        action=AuditAction.ADMIN,
        target_type="staff_card",
        target_ref=card.user.get_username(),
        detail={"kind": kind, "card": card.pk, "active": card.active},
    )


def card_pin_valid(pin: str) -> bool:
    return isinstance(pin, str) and bool(_PIN.fullmatch(pin))


def card_pin_set(*, user: User, pin: str, actor: Any) -> None:
    """Set ``user``'s card PIN (4-8 digits) and clear a lock. The PIN goes only into the hash; the audit record
    says that it changed, never what it is."""
    if not card_pin_valid(pin):
        raise ValueError("a card PIN is 4 to 8 digits")
    had_pin = bool(user.card_pin_hash)
    user.card_pin_hash = make_password(pin)
    user.card_pin_failures = 0
    user.card_locked_until = None
    with transaction.atomic():
        user.save(update_fields=["card_pin_hash", "card_pin_failures", "card_locked_until"])
        audit_record(
            actor=actor,
            action=AuditAction.ADMIN,
            target_type="card_pin",
            target_ref=user.get_username(),
            detail={"kind": "pin_changed" if had_pin else "pin_set"},
        )


def card_lock_clear(*, user: User, actor: Any) -> None:
    """The admin's unlock: forget the wrong PINs and the lock."""
    with transaction.atomic():
        User.objects.filter(pk=user.pk).update(card_pin_failures=0, card_locked_until=None)
        audit_record(
            actor=actor,
            action=AuditAction.ADMIN,
            target_type="card_pin",
            target_ref=user.get_username(),
            detail={"kind": "unlocked"},
        )


def card_locked(user: User, *, now: dt.datetime | None = None) -> bool:
    return user.card_locked_until is not None and user.card_locked_until > (now or timezone.now())


# --- the tap ----------------------------------------------------------------------------------------------------


def staff_tapped_event(terminal: Terminal, event: Any) -> dict[str, Any]:
    """The agent's ``{"type": "staff.tapped", "card_id": "<hex>"}``: open a card login on this terminal's page.

    The answer to the agent carries no user data. An unknown or inactive card (or an inactive user) is one answer,
    ``unknown_card``, so a tap never tells whether a card belongs to someone."""
    card_id = event.get("card_id") if hasattr(event, "get") else None
    digest = card_id_digest(card_id if isinstance(card_id, str) else "")  # ValueError: the agent gets a 400
    topic = login_topic(terminal)
    card = (
        StaffCard.objects.select_related("user")
        .filter(card_id_digest=digest, active=True, user__is_active=True)
        .first()
    )
    if card is None:
        push.publish_on_commit(topic, {"type": "card.refused", "reason": "unknown_card"})
        return {"status": "unknown_card"}
    user = card.user
    if card_locked(user):
        push.publish_on_commit(topic, {"type": "card.refused", "reason": "locked"})
        return {"status": "locked"}
    if not user.card_pin_hash:
        push.publish_on_commit(topic, {"type": "card.refused", "reason": "no_pin"})
        return {"status": "no_pin"}
    now = timezone.now()
    with transaction.atomic():
        # One pending login per terminal: a new tap ends the one before.
        CardLogin.objects.filter(terminal=terminal, used_at=None, expires_at__gt=now).update(expires_at=now)
        login = CardLogin.objects.create(
            terminal=terminal,
            user=user,
            token=secrets.token_urlsafe(32),
            expires_at=now + dt.timedelta(seconds=settings.MADOGUCHI_CARD_LOGIN_SECONDS),
        )
        push.publish_on_commit(topic, {"type": "card.tapped", **card_login_shown(login)})
    return {"status": "pin_required"}


# --- the PIN ----------------------------------------------------------------------------------------------------


class CardLoginRefused(Exception):
    """A PIN that does not log in. ``reason`` is one of: invalid, other_terminal, used, expired, inactive, no_pin,
    locked, wrong_pin. ``tries_left`` counts for a wrong PIN; ``locked_until`` is set when locked."""

    def __init__(
        self, reason: str, *, tries_left: int | None = None, locked_until: dt.datetime | None = None
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.tries_left = tries_left
        self.locked_until = locked_until

    @property
    def retry(self) -> bool:
        """Whether the same tap may be tried again (only after a wrong PIN)."""
        return self.reason == "wrong_pin"


def card_login_complete(*, token: str, terminal: Terminal, pin: str) -> User:
    """Check ``pin`` for the card login ``token`` opened at ``terminal`` and mark it used; the user to log in.

    Refused (``CardLoginRefused``), changing nothing: an unknown, used or expired token, a token of another
    terminal, an inactive or locked user. A wrong PIN counts towards the lock (MADOGUCHI_CARD_PIN_MAX_FAILURES in
    a row lock the card login for MADOGUCHI_CARD_LOCK_SECONDS) and is refused too. The PIN is only compared with
    its hash."""
    refused: CardLoginRefused | None = None
    with transaction.atomic():
        login = CardLogin.objects.select_for_update().filter(token=token).first() if token else None
        now = timezone.now()
        if login is None:
            raise CardLoginRefused("invalid")
        if login.terminal_id != terminal.pk:
            raise CardLoginRefused("other_terminal")
        if login.used_at is not None:
            raise CardLoginRefused("used")
        user = User.objects.select_for_update().get(pk=login.user_id)
        if not user.is_active:
            raise CardLoginRefused("inactive")
        if card_locked(user, now=now):  # before the expiry: the lock ends the tap, and says more
            raise CardLoginRefused("locked", locked_until=user.card_locked_until)
        if login.expires_at <= now:
            raise CardLoginRefused("expired")
        if not user.card_pin_hash:
            raise CardLoginRefused("no_pin")
        if card_pin_valid(pin) and check_password(pin, user.card_pin_hash):
            user.card_pin_failures = 0
            user.save(update_fields=["card_pin_failures"])
            login.used_at = now
            login.save(update_fields=["used_at"])
            audit_record(
                actor=user,
                action=AuditAction.ADMIN,
                target_type="login",
                target_ref=terminal.code,
                detail={"kind": "login", "method": "card"},
            )
            return user
        # Wrong: counted, and committed (the refusal is raised after the transaction). The count goes on across
        # locks until a right PIN (or an administrator) clears it, and each lock lasts twice the one before: a
        # 4-digit PIN guessed by someone with a cloned card costs days, not a weekend.
        limit = settings.MADOGUCHI_CARD_PIN_MAX_FAILURES
        user.card_pin_failures += 1
        if user.card_pin_failures % limit == 0:
            locks = user.card_pin_failures // limit
            lock_seconds = settings.MADOGUCHI_CARD_LOCK_SECONDS * 2 ** min(locks - 1, 10)
            user.card_locked_until = now + dt.timedelta(seconds=lock_seconds)
            login.expires_at = now  # the page goes back to waiting for a tap
            login.save(update_fields=["expires_at"])
            audit_record(
                actor=None,
                action=AuditAction.ADMIN,
                target_type="card_pin",
                target_ref=user.get_username(),
                detail={"kind": "locked", "terminal": terminal.code},
            )
            refused = CardLoginRefused("locked", locked_until=user.card_locked_until)
        else:
            refused = CardLoginRefused("wrong_pin", tries_left=limit - user.card_pin_failures % limit)
        user.save(update_fields=["card_pin_failures", "card_locked_until"])
    raise refused


def login_records_purge(*, now: dt.datetime | None = None) -> int:
    """Delete the records of logins older than MADOGUCHI_LOGIN_RECORD_RETENTION_DAYS: card taps (CardLogin) and
    django-axes' attempts and logs (login IDs, addresses, user agents). Returns how many rows went."""
    from axes.models import AccessAttempt, AccessFailureLog, AccessLog

    now = now or timezone.now()
    cutoff = now - dt.timedelta(days=settings.MADOGUCHI_LOGIN_RECORD_RETENTION_DAYS)
    deleted = CardLogin.objects.filter(expires_at__lt=cutoff).delete()[0]
    deleted += AccessAttempt.objects.filter(attempt_time__lt=cutoff).delete()[0]
    deleted += AccessFailureLog.objects.filter(attempt_time__lt=cutoff).delete()[0]
    deleted += AccessLog.objects.filter(attempt_time__lt=cutoff).delete()[0]
    return deleted
