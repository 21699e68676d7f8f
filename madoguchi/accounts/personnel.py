"""The annual personnel update (人事異動): a staff file from the personnel system, previewed, confirmed, applied.

The file is CSV (UTF-8 with or without BOM, or Shift_JIS/CP932 as personnel systems write it) with a header row:
職員番号, 氏名, 所属, 役割, 異動日, and optionally ICカードID; other columns are ignored. It lists the staff the file
manages — everyone with a 職員番号 in madoguchi:

- a 職員番号 not yet known is **new**: an account with that login ID, its roles and 所属 (and its card);
- a known one whose 所属, 役割 or card differs has **changed** (moved, or new roles);
- 役割 「退職」 (or a known 職員番号 missing from the file) is **leaving**: the account is disabled, its roles and
  cards taken away — never deleted (the audit log names it).

役割 lists groups separated by 「・」「、」「,」「;」 or spaces: a group's name (``clerk``) or a built-in role's label
(窓口職員). ``staff_update_parse`` reads and checks the whole file and plans the changes; any problem in any row
refuses the file with every problem named by line and column, and nothing is stored. The admin confirms the plan
(``staff_update_confirm``); each change then applies on its 異動日 (``staff_changes_apply``, daily, and at once for
dates already past). Accounts without a 職員番号 (system accounts) are never touched. Everything is audited by
職員番号, never by name.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import PurePosixPath, PureWindowsPath
from typing import Any

from django.contrib.auth.models import Group
from django.db import transaction
from django.utils import timezone

from madoguchi.audit.models import AuditAction
from madoguchi.audit.services import audit_record
from madoguchi.moji.wareki import parse_date

from .models import StaffCard, StaffChange, StaffChangeKind, StaffUpdate, User
from .roles import ROLE_LABELS
from .services import card_id_digest

COLUMNS = ("職員番号", "氏名", "所属", "役割", "異動日")
CARD_COLUMN = "ICカードID"
LEAVING = "退職"
MAX_BYTES = 5 * 1024 * 1024
_SEPARATORS = re.compile(r"[・、,;；\s]+")
_STAFF_NO = re.compile(r"[0-9A-Za-z\-]{1,32}")


class StaffFileRefused(ValueError):
    """The file cannot be used. ``problems`` name each line and column (Japanese, for the admin's screen)."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class _Row:
    line: int
    staff_no: str
    name: str
    department: str
    roles: tuple[str, ...]  # group names; empty when leaving
    leaving: bool
    card_digest: str
    effective_on: dt.date


def _decoded(data: bytes) -> str:
    for encoding in ("utf-8-sig", "cp932"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise StaffFileRefused(
        ["文字コードを読み取れません。UTF-8 または Shift_JIS の CSV を取り込んでください。"]
    )


def filename_shown(raw: str) -> str:
    """The uploaded file's name as shown and stored: its last part only (a name like ``../../etc/passwd`` or
    ``C:\\x\\y.csv`` is never a path here), without control characters, at most 255 characters."""
    name = PureWindowsPath(PurePosixPath(raw or "").name).name
    name = "".join(char for char in name if char.isprintable())
    return name[:255] or "staff.csv"


def _group_names() -> dict[str, str]:
    """What a 役割 cell may say → the group's name: every group's name, and the built-in roles' labels."""
    names = {name: name for name in Group.objects.values_list("name", flat=True)}
    names.update({str(label): role.value for role, label in ROLE_LABELS.items()})
    return names


def _rows(text: str) -> list[_Row]:
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, None)
    if header is None:
        raise StaffFileRefused(["ファイルが空です。"])
    header = [cell.strip() for cell in header]
    missing = [column for column in COLUMNS if column not in header]
    if missing:
        raise StaffFileRefused([f"1行目: 見出しに {'、'.join(missing)} がありません。"])
    at = {column: header.index(column) for column in (*COLUMNS, CARD_COLUMN) if column in header}
    groups = _group_names()
    rows: list[_Row] = []
    problems: list[str] = []
    seen: dict[str, int] = {}
    for line, cells in enumerate(reader, start=2):
        if not any(cell.strip() for cell in cells):
            continue
        if len(cells) < len(header):
            problems.append(f"{line}行目: 列が足りません（{len(cells)}列、見出しは{len(header)}列）。")
            continue

        def cell(column: str, cells: list[str] = cells) -> str:
            return cells[at[column]].strip() if column in at else ""

        before = len(problems)
        staff_no = cell("職員番号")
        if not _STAFF_NO.fullmatch(staff_no):
            problems.append(f"{line}行目 職員番号: 英数字とハイフン32文字以内で入力してください。")
        elif staff_no in seen:
            problems.append(f"{line}行目 職員番号: {staff_no} は{seen[staff_no]}行目と重複しています。")
        else:
            seen[staff_no] = line
        tokens = [token for token in _SEPARATORS.split(cell("役割")) if token]
        leaving = LEAVING in tokens
        unknown = [token for token in tokens if token != LEAVING and token not in groups]
        if unknown:
            problems.append(
                f"{line}行目 役割: 「{'」「'.join(unknown)}」という役割（グループ）はありません。"
            )
        if leaving and len(tokens) > 1:
            problems.append(f"{line}行目 役割: 「{LEAVING}」は他の役割と一緒に書けません。")
        if not leaving and not cell("氏名"):
            problems.append(f"{line}行目 氏名: 空です。")
        try:
            effective_on = parse_date(cell("異動日"))
        except ValueError:
            problems.append(f"{line}行目 異動日: 日付として読めません（例: 2027-04-01、令和9年4月1日）。")
            effective_on = dt.date.min
        digest = ""
        if card := cell(CARD_COLUMN):
            try:
                digest = card_id_digest(card)
            except ValueError:
                problems.append(f"{line}行目 ICカードID: 16進数で8〜64桁（偶数桁）で入力してください。")
        if len(problems) == before:
            rows.append(
                _Row(
                    line=line,
                    staff_no=staff_no,
                    name=cell("氏名")[:100],
                    department=cell("所属")[:100],
                    roles=() if leaving else tuple(sorted({groups[token] for token in tokens})),
                    leaving=leaving,
                    card_digest=digest,
                    effective_on=effective_on,
                )
            )
    if problems:
        raise StaffFileRefused(problems)
    return rows


def _roles_of(user: User) -> list[str]:
    return sorted(group.name for group in user.groups.all())  # prefetched with the staff


def _cards_check(rows: list[_Row], users: dict[str, User]) -> None:
    """A card in the file must not be registered to someone else, nor be given to two rows."""
    problems: list[str] = []
    owners = dict(
        StaffCard.objects.filter(
            card_id_digest__in=[row.card_digest for row in rows if row.card_digest]
        ).values_list("card_id_digest", "user__staff_no")
    )
    given: dict[str, int] = {}
    for row in rows:
        if not row.card_digest:
            continue
        if row.card_digest in given:
            problems.append(f"{row.line}行目 ICカードID: {given[row.card_digest]}行目と同じカードです。")
        given[row.card_digest] = row.line
        owner = owners.get(row.card_digest)
        if owner is not None and owner != row.staff_no:
            problems.append(f"{row.line}行目 ICカードID: このカードは別の職員に登録されています。")
    if problems:
        raise StaffFileRefused(problems)


def _change(row: _Row, user: User | None, update: StaffUpdate) -> StaffChange | None:
    """The change ``row`` makes to ``user`` (None: the account is as the row says)."""
    fields: dict[str, Any] = {
        "update": update,
        "line": row.line,
        "staff_no": row.staff_no,
        "name": row.name,
        "department_to": row.department,
        "roles_to": list(row.roles),
        "card_digest": row.card_digest,
        "effective_on": row.effective_on,
    }
    if user is None:
        return None if row.leaving else StaffChange(kind=StaffChangeKind.NEW, **fields)
    fields |= {
        "department_from": user.department,
        "roles_from": _roles_of(user),
        "name": row.name or str(user),
    }
    if row.leaving:
        if not user.is_active:
            return None
        return StaffChange(kind=StaffChangeKind.LEAVING, **(fields | {"department_to": "", "roles_to": []}))
    has_card = not row.card_digest or any(
        card.card_id_digest == row.card_digest and card.active for card in user.staff_cards.all()
    )
    same = (
        user.is_active
        and user.department == row.department
        and fields["roles_from"] == list(row.roles)
        and (row.name in ("", user.display_name))
        and has_card
    )
    return None if same else StaffChange(kind=StaffChangeKind.CHANGED, **fields)


def staff_update_parse(*, data: bytes, filename: str, actor: User) -> StaffUpdate:
    """Read a staff file and store its plan (not yet confirmed): StaffFileRefused, and nothing stored, if any row
    is wrong."""
    if len(data) > MAX_BYTES:
        raise StaffFileRefused([f"ファイルが大きすぎます（上限 {MAX_BYTES // 1024 // 1024} MB）。"])
    rows = _rows(_decoded(data))
    known = {
        user.staff_no: user
        for user in User.objects.exclude(staff_no="").prefetch_related("groups", "staff_cards")
    }
    _cards_check(rows, known)
    taken = set(
        User.objects.filter(
            username__in=[row.staff_no for row in rows if row.staff_no not in known]
        ).values_list("username", flat=True)
    )
    if taken:
        raise StaffFileRefused(
            [
                f"{row.line}行目 職員番号: ログインID {row.staff_no} は職員番号のない別のアカウントが使っています。"
                for row in rows
                if row.staff_no in taken
            ]
        )
    listed = {row.staff_no for row in rows}
    latest = max((row.effective_on for row in rows), default=timezone.localdate())
    with transaction.atomic():
        update = StaffUpdate.objects.create(
            filename=filename_shown(filename), uploaded_by=actor, rows=len(rows)
        )
        changes = [change for row in rows if (change := _change(row, known.get(row.staff_no), update))]
        # Known, active staff the file does not list leave on the file's last 異動日.
        for staff_no, user in sorted(known.items()):
            if staff_no not in listed and user.is_active:
                absent = _Row(0, staff_no, str(user), "", (), True, "", latest)
                if change := _change(absent, user, update):
                    change.line = None
                    changes.append(change)
        StaffChange.objects.bulk_create(changes)
        update.unchanged = len(rows) - sum(1 for change in changes if change.line is not None)
        update.save(update_fields=["unchanged"])
        _audit(actor, update, "staff_file_uploaded", changes=_counts(changes))
    return update


def _counts(changes: Iterable[StaffChange]) -> dict[str, int]:
    counts = dict.fromkeys(StaffChangeKind.values, 0)
    for change in changes:
        counts[change.kind] += 1
    return counts


def _audit(actor: Any, update: StaffUpdate, kind: str, **detail: Any) -> None:
    audit_record(
        actor=actor,
        action=AuditAction.ADMIN,
        target_type="staff_update",
        target_ref=str(update.pk),
        detail={"kind": kind, **detail},
    )


class StaffUpdateRefused(ValueError):
    """A confirm or cancel that cannot be done (already confirmed, cancelled…); the message is for the screen."""


def staff_update_confirm(*, update: StaffUpdate, actor: User) -> int:
    """Confirm the plan: its changes apply on their 異動日 — those already due, at once. Returns how many applied."""
    with transaction.atomic():
        locked = StaffUpdate.objects.select_for_update().get(pk=update.pk)
        if locked.confirmed_at is not None or locked.cancelled_at is not None:
            raise StaffUpdateRefused("この人事異動は確定済みか取り消されています。")
        locked.confirmed_at, locked.confirmed_by = timezone.now(), actor
        locked.save(update_fields=["confirmed_at", "confirmed_by"])
        _audit(actor, locked, "staff_update_confirmed")
    return staff_changes_apply()


def staff_update_cancel(*, update: StaffUpdate, actor: User) -> None:
    """Cancel the changes not yet applied (those applied stay: a later file undoes them)."""
    with transaction.atomic():
        locked = StaffUpdate.objects.select_for_update().get(pk=update.pk)
        if locked.cancelled_at is not None:
            raise StaffUpdateRefused("この人事異動は取り消されています。")
        locked.cancelled_at = timezone.now()
        locked.save(update_fields=["cancelled_at"])
        _audit(
            actor, locked, "staff_update_cancelled", pending=locked.changes.filter(applied_at=None).count()
        )


def staff_changes_apply(*, today: dt.date | None = None) -> int:
    """Apply every confirmed change whose 異動日 has come, in date order, each once. Returns how many applied."""
    today = today or timezone.localdate()
    due = StaffChange.objects.filter(
        applied_at=None,
        effective_on__lte=today,
        update__confirmed_at__isnull=False,
        update__cancelled_at=None,
    ).values_list("pk", flat=True)
    applied = 0
    for pk in list(due):
        with transaction.atomic():
            change = StaffChange.objects.select_for_update().get(pk=pk)
            if change.applied_at is not None:
                continue
            _apply(change)
            change.applied_at = timezone.now()
            change.save(update_fields=["applied_at"])
            applied += 1
    return applied


def _apply(change: StaffChange) -> None:
    user = User.objects.filter(staff_no=change.staff_no).first()
    if user is None:
        if change.kind == StaffChangeKind.LEAVING:
            return
        # The login ID is the 職員番号; no password until a system admin sets one (card + PIN need it once).
        user = User(username=change.staff_no, staff_no=change.staff_no)
        user.set_unusable_password()
    if change.kind == StaffChangeKind.LEAVING:
        user.is_active = False
        user.save(update_fields=["is_active"])
        user.groups.clear()
        user.staff_cards.update(active=False)
    else:
        user.is_active = True
        user.department = change.department_to
        if change.name:
            user.display_name = change.name
        user.save()
        user.groups.set(Group.objects.filter(name__in=change.roles_to))
        if change.card_digest:
            card, _made = StaffCard.objects.get_or_create(
                card_id_digest=change.card_digest, defaults={"user": user, "label": "職員証"}
            )
            if card.user_id == user.pk and not card.active:
                card.active = True
                card.save(update_fields=["active"])
    audit_record(
        actor=None,
        action=AuditAction.ADMIN,
        target_type="user",
        target_ref=change.staff_no,
        detail={
            "kind": f"staff_{change.kind}",
            "staff_update": change.update_id,
            "department_changed": change.department_from != change.department_to,
            "roles": change.roles_to,
            "card": bool(change.card_digest),
        },
    )
