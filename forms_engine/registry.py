"""Preview data sources: who can supply a context for previewing a form (R-F2 "preview with a chosen resident").

forms_engine knows nothing of residents; an app above it (counters) registers a source that turns a reference
(a 宛名番号) into the documented form context, and audits the view. The sample household is always available.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

PreviewContext = Callable[..., dict[str, Any] | None]


@dataclass(frozen=True)
class PreviewSource:
    """``load(ref=…, actor=…)`` returns the context for ``ref``, or None when there is no such record."""

    name: str
    label: str
    ref_label: str
    load: PreviewContext


_SOURCES: dict[str, PreviewSource] = {}


def preview_source_register(source: PreviewSource) -> None:
    """Add (or replace) a preview source; called from an AppConfig.ready()."""
    _SOURCES[source.name] = source


def preview_sources() -> list[PreviewSource]:
    return list(_SOURCES.values())


def preview_source(name: str) -> PreviewSource | None:
    return _SOURCES.get(name)
