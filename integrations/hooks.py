"""Typed hooks through which integrations reports back to the apps above it, without importing them
(integrations knows nothing of counters; counters subscribes in its ``AppConfig.ready``)."""

from __future__ import annotations

import logging
from collections.abc import Callable

logger = logging.getLogger(__name__)

ExportWritten = Callable[[list[str]], object]
"""Called with the reception numbers (受付番号) of an outbound batch once its object is written."""

_export_written: list[ExportWritten] = []


def export_written_subscribe(fn: ExportWritten) -> None:
    """Call ``fn`` after every written outbound batch; subscribing the same function twice adds it once."""
    if fn not in _export_written:
        _export_written.append(fn)


def export_written_notify(reception_nos: list[str]) -> None:
    """Tell every subscriber which receptions a batch just wrote. A failing subscriber is logged and does not
    stop the others or the export: the batch is written either way."""
    for fn in list(_export_written):
        try:
            fn(list(reception_nos))
        except Exception:
            logger.exception("export_written subscriber %s failed", getattr(fn, "__qualname__", fn))
