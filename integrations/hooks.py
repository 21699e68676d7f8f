"""Typed hooks through which integrations reports back to the apps above it, without importing them
(integrations knows nothing of counters; counters subscribes in its ``AppConfig.ready``)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

from django.db import transaction

logger = logging.getLogger(__name__)

ExportWritten = Callable[[Iterable[str]], object]
"""Called with the reception numbers (受付番号) of an outbound batch once its files and manifest are written: a
query (a flat ``values_list``) that a subscriber may use as a subquery, so a batch of thousands costs one statement;
a number may appear more than once."""

_export_written: list[ExportWritten] = []


def export_written_subscribe(fn: ExportWritten) -> None:
    """Call ``fn`` after every written outbound batch; subscribing the same function twice adds it once."""
    if fn not in _export_written:
        _export_written.append(fn)


def export_written_notify(reception_nos: Iterable[str]) -> None:
    """Tell every subscriber which receptions a batch just wrote. A failing subscriber is logged and does not
    stop the others or the export: the batch is written either way."""
    _notify(_export_written, reception_nos)


ExportResult = Callable[[str, bool, str], object]
"""Called with a reception number (受付番号), whether the core system took its rows (OK) or refused them (NG), and
the robot's message, once a result file is applied."""
ExportRequeued = Callable[[str], object]
"""Called with a reception number whose refused rows were corrected and queued for export again."""

_export_result: list[ExportResult] = []
_export_requeued: list[ExportRequeued] = []


def export_result_subscribe(fn: ExportResult) -> None:
    if fn not in _export_result:
        _export_result.append(fn)


def export_requeued_subscribe(fn: ExportRequeued) -> None:
    if fn not in _export_requeued:
        _export_requeued.append(fn)


def _notify(subscribers: list[Callable[..., object]], *args: object) -> None:
    for fn in list(subscribers):
        try:
            with transaction.atomic():  # a savepoint when called inside the caller's transaction
                fn(*args)
        except Exception:
            logger.exception("integrations hook subscriber %s failed", getattr(fn, "__qualname__", fn))


def export_result_notify(reception_no: str, ok: bool, message: str) -> None:
    """Tell every subscriber the core system's answer for one reception; a failing subscriber is logged."""
    _notify(_export_result, reception_no, ok, message)


def export_requeued_notify(reception_no: str) -> None:
    """Tell every subscriber a refused reception was corrected and queued again."""
    _notify(_export_requeued, reception_no)
