"""Retention and erasure, in one place: every kind of personal data madoguchi keeps, how long (a setting each), and
the job that erases it. Beat runs ``retention_purge`` hourly (every kind, each idempotent); ``python manage.py
retention`` shows the table, and ``--purge`` runs it now. docs/operations.md has the table for the city's rules.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from importlib import import_module
from typing import Any

from django.conf import settings

from madoguchi.audit.models import AuditAction
from madoguchi.audit.services import audit_record

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Kind:
    code: str
    label: str  # Japanese, as the city's 保存期間 rules name it
    setting: str
    unit: str  # "days" or "hours"
    erases: str
    purge: Callable[[], Any]

    @property
    def value(self) -> int:
        return int(getattr(settings, self.setting))


def _lazy(path: str) -> Callable[[], Any]:
    """The purge function at ``path`` (module.function), imported when it first runs: the apps it lives in are
    above this one, and loaded after it."""
    module, _dot, name = path.rpartition(".")

    def purge() -> Any:
        return getattr(import_module(module), name)()

    return purge


def _web_sessions() -> int:
    store = import_module(settings.SESSION_ENGINE).SessionStore
    store.clear_expired()
    return 0


def _backups() -> int:
    from .backup import backups_prune

    return len(backups_prune())


KINDS: tuple[Kind, ...] = (
    Kind("signatures", "署名・カード読取データ", "MADOGUCHI_SIGNATURE_RETENTION_HOURS", "hours",
         "a session's signature and what its card reader read (the packet is printed by then)",
         _lazy("counters.services.sessions_wipe_signatures")),
    Kind("print_pdfs", "印刷データ（PDF・レシート）", "MADOGUCHI_PRINT_RETENTION_HOURS", "hours",
         "the PDF and receipt of a finished print job",
         _lazy("devices.services.print_jobs_purge")),
    Kind("individual_numbers", "個人番号（送信待ち）", "MADOGUCHI_INDIVIDUAL_NUMBER_RETENTION_DAYS", "days",
         "the sealed individual number of an outbox row (at once when the core system answers OK)",
         _lazy("integrations.outbound.export_secrets_purge")),
    Kind("export_pdfs", "連携用PDF", "MADOGUCHI_EXPORT_RETENTION_DAYS", "days",
         "a reception's PDF for the core system (at once when all its rows are answered OK)",
         _lazy("integrations.outbound.export_documents_purge")),
    Kind("export_rows", "連携データ（CSV行）", "MADOGUCHI_EXPORT_ROWS_RETENTION_DAYS", "days",
         "outbox rows of batches written that long ago (rows in 取込エラー wait for their correction)",
         _lazy("integrations.outbound.export_rows_purge")),
    Kind("counter_sessions", "窓口受付の記録", "MADOGUCHI_SESSION_RETENTION_DAYS", "days",
         "what a counter session holds of the resident (宛名番号, answers, form contents); the row stays for "
         "statistics",
         _lazy("counters.services.sessions_erase")),
    Kind("login_records", "ログイン記録", "MADOGUCHI_LOGIN_RECORD_RETENTION_DAYS", "days",
         "card taps and password login attempts",
         _lazy("madoguchi.accounts.services.login_records_purge")),
    Kind("web_sessions", "ログインセッション", "SESSION_COOKIE_AGE", "seconds",
         "expired browser sessions (idle timeout)",
         _web_sessions),
    Kind("audit", "監査ログ", "MADOGUCHI_AUDIT_RETENTION_DAYS", "days",
         "audit records, behind a signed checkpoint that keeps the chain verifiable",
         _lazy("madoguchi.audit.services.audit_purge")),
    Kind("backups", "バックアップ", "MADOGUCHI_BACKUP_KEEP_DAYS", "days",
         "encrypted backups in object storage (the newest is always kept)",
         _backups),
)  # fmt: skip


def retention_purge(kinds: tuple[Kind, ...] = KINDS) -> dict[str, Any]:
    """Run every kind's purge; one failing (storage down, say) does not stop the others, and is retried at the
    next run. Returns what each purged, or the error's class name."""
    done: dict[str, Any] = {}
    for kind in kinds:
        try:
            done[kind.code] = kind.purge()
        except Exception as exc:
            logger.exception("retention purge of %s failed", kind.code)
            done[kind.code] = f"failed: {type(exc).__name__}"
    erased = {code: result for code, result in done.items() if isinstance(result, int) and result}
    if erased:  # what was erased, by kind and count: the city can show its rules were kept
        audit_record(actor=None, action=AuditAction.ADMIN, target_type="retention", detail={"erased": erased})
    return done
