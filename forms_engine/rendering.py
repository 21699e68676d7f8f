"""Rendering a form version against a plain context: sandboxed Jinja2 → HTML → PDF (WeasyPrint).

The engine knows nothing of sessions or residents; callers build the context as plain dicts.
An MJ font comes first in every font stack, or WeasyPrint drops Moji_Joho variation selectors (domain.md §3).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import jinja2
from django.conf import settings
from jinja2.sandbox import ImmutableSandboxedEnvironment

from madoguchi.moji.kana import hiragana_to_katakana
from madoguchi.moji.wareki import format_wareki


class FormRenderError(Exception):
    """A template could not be rendered (syntax error, forbidden access); names the form and the reason."""


def _wareki(value: Any) -> str:
    if isinstance(value, str) and value:
        value = dt.date.fromisoformat(value)
    return format_wareki(value) if isinstance(value, dt.date) else ""


def _age(value: Any, on: Any = None) -> int | str:
    if isinstance(value, str) and value:
        value = dt.date.fromisoformat(value)
    if not isinstance(value, dt.date):
        return ""
    today = on if isinstance(on, dt.date) else dt.date.today()
    return today.year - value.year - ((today.month, today.day) < (value.month, value.day))


def _environment(*, autoescape: bool) -> ImmutableSandboxedEnvironment:
    env = ImmutableSandboxedEnvironment(autoescape=autoescape, undefined=jinja2.ChainableUndefined)
    env.filters.update({"wareki": _wareki, "katakana": hiragana_to_katakana, "age": _age})
    return env


_ENV = _environment(autoescape=True)
# CSV values are written byte-exact: no HTML escaping.
_CSV_ENV = _environment(autoescape=False)


def font_stack_css() -> str:
    """The @font-face rules and the base font-family: the MJ font first, then the optional GJ font."""
    families = [f'"{name}"' for name in settings.MADOGUCHI_PDF_FONT_FAMILY]
    face = ""
    if settings.MADOGUCHI_GJ_FONT_PATH:
        face = f'@font-face {{ font-family: "madoguchi-gj"; src: url("file://{settings.MADOGUCHI_GJ_FONT_PATH}"); }}\n'
        families.append('"madoguchi-gj"')
    return f"{face}html {{ font-family: {', '.join(families)}, serif; }}\n"


@dataclass(frozen=True)
class RenderSource:
    """What is needed to render one form: its code, body, CSS and CSV columns (from a FormVersion)."""

    code: str
    body: str
    css: str = ""
    csv_columns: Sequence[Sequence[str]] = ()


def render_html(source: RenderSource, context: Mapping[str, Any]) -> str:
    """The form's HTML body for ``context``. Template errors become FormRenderError naming the form."""
    try:
        return _ENV.from_string(source.body).render(context)
    except jinja2.TemplateError as exc:
        raise FormRenderError(f"form {source.code}: {exc}") from exc


def render_packet_html(pages: Sequence[tuple[RenderSource, Mapping[str, Any]]]) -> str:
    """One HTML document holding several forms, each starting on a new page."""
    styles = "".join(
        f"<style>{source.css}</style>" for source in dict((s.code, s) for s, _ in pages).values()
    )
    bodies = "".join(
        f'<section class="form form-{source.code}" style="page-break-after: always">'
        f"{render_html(source, context)}</section>"
        for source, context in pages
    )
    return (
        '<!doctype html><html lang="ja"><head><meta charset="utf-8">'
        f"<style>{font_stack_css()}@page {{ size: A4; margin: 15mm; }}</style>{styles}</head>"
        f"<body>{bodies}</body></html>"
    )


def _allowed_files() -> frozenset[Path]:
    """The only local files a form may load: the configured fonts."""
    paths = [settings.MADOGUCHI_GJ_FONT_PATH] if settings.MADOGUCHI_GJ_FONT_PATH else []
    return frozenset(Path(p).resolve() for p in paths)


def _sandboxed_fetcher() -> Any:
    """A WeasyPrint URL fetcher for admin-authored forms (R-F6): ``data:`` URIs and the configured font files
    only. A form can neither read the server's files (``file:///…/.env``) nor reach the network."""
    from weasyprint.urls import URLFetcher

    allowed = _allowed_files()

    class SandboxedFetcher(URLFetcher):
        def fetch(self, url: str, headers: Any = None) -> Any:
            scheme = urlsplit(url).scheme.lower()
            if scheme == "data":
                return super().fetch(url, headers)
            if scheme == "file" and Path(unquote(urlsplit(url).path)).resolve() in allowed:
                return super().fetch(url, headers)
            raise ValueError(f"forms may not load {scheme or 'relative'} resources")

    return SandboxedFetcher(allowed_protocols=("data", "file"), allow_redirects=False, timeout=5)


def render_packet_pdf(pages: Sequence[tuple[RenderSource, Mapping[str, Any]]]) -> bytes:
    """Render several forms into one PDF in one pass."""
    from weasyprint import HTML

    pdf: bytes = HTML(string=render_packet_html(pages), url_fetcher=_sandboxed_fetcher()).write_pdf()
    return pdf


def render_csv_row(source: RenderSource, context: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    """The form's CSV header and the row for ``context``; each column is a template expression."""
    header = [column[0] for column in source.csv_columns]
    try:
        row = [
            _CSV_ENV.from_string("{{ " + expression + " }}").render(context)
            for _, expression in source.csv_columns
        ]
    except jinja2.TemplateError as exc:
        raise FormRenderError(f"form {source.code}: CSV column: {exc}") from exc
    return header, row
