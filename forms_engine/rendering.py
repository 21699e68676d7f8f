"""Rendering form versions: a packet of forms → one HTML document → one PDF (WeasyPrint), in one pass.

The engine knows nothing of sessions or residents; callers pass the documented context as plain dicts, with the
filled values under ``fields`` (``forms_engine.services.form_fill``). Flowing layouts are sandboxed Jinja2
(``forms_engine.sandbox``); overlay layouts are generated here from placements, with no admin-written HTML.
An MJ font comes first in every font stack, or WeasyPrint drops Moji_Joho variation selectors (domain.md §3).
"""

from __future__ import annotations

import base64
import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from django.conf import settings

from .bindings import CONTEXT_ROOTS, FILTERS, binding_parse, binding_text, binding_value
from .sandbox import TemplateSandboxError, sandbox_environment, sandbox_render, template_problems
from .schema import Layout, Placement, VersionSpec


class FormRenderError(Exception):
    """A form could not be rendered (syntax error, forbidden access, a budget exceeded); names the form."""


_FILTERS = {name: function for name, (function, _) in FILTERS.items()}
_ENV = sandbox_environment(autoescape=True, filters=_FILTERS)


@dataclass(frozen=True)
class RenderSource:
    """What is needed to render one form version: its identity, its validated content and its images."""

    code: str
    name: str
    number: int
    spec: VersionSpec
    backgrounds: Mapping[str, bytes] = field(default_factory=dict)
    content_types: Mapping[str, str] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return f"form {self.code} v{self.number}"

    def background_uri(self, name: str) -> str:
        data = base64.b64encode(self.backgrounds[name]).decode("ascii")
        return f"data:{self.content_types.get(name, 'image/png')};base64,{data}"


def font_stack_css() -> str:
    """The @font-face rules and the base font-family: the MJ font first, then the optional GJ font."""
    families = [f'"{name}"' for name in settings.MADOGUCHI_PDF_FONT_FAMILY]
    face = ""
    if settings.MADOGUCHI_GJ_FONT_PATH:
        face = f'@font-face {{ font-family: "madoguchi-gj"; src: url("file://{settings.MADOGUCHI_GJ_FONT_PATH}"); }}\n'
        families.append('"madoguchi-gj"')
    return f"{face}html {{ font-family: {', '.join(families)}, serif; }}\n"


def qr_data_uri(text: str) -> str:
    """A QR code of ``text`` (the reception number) as an SVG data URI; error correction M, as on paper forms."""
    import segno

    uri: str = segno.make_qr(text, error="m").svg_data_uri(scale=4, border=2)
    return uri


def flow_template_problems(body: str) -> list[str]:
    """Why a flowing layout's template cannot be used: syntax, names outside the context, file access."""
    return template_problems(_ENV, body, names=CONTEXT_ROOTS)


def _flow_html(source: RenderSource, context: Mapping[str, Any], qr: str) -> str:
    try:
        body = sandbox_render(_ENV, source.spec.layout.body, context, names=CONTEXT_ROOTS)
    except TemplateSandboxError as exc:
        raise FormRenderError(f"{source.label}: {exc}") from exc
    running_qr = f'<div class="qr-running"><img src="{qr}" alt=""></div>' if qr else ""
    return f'<section class="form flow form-{source.code}">{running_qr}{body}</section>'


def _box_style(placement: Placement) -> str:
    return (
        f"left:{placement.x}mm;top:{placement.y}mm;width:{placement.width}mm;height:{placement.height}mm;"
        f"font-size:{placement.font_size}pt;text-align:{placement.align}"
    )


def _placed_html(placement: Placement, context: Mapping[str, Any]) -> str:
    binding = binding_parse(placement.value)
    style = _box_style(placement)
    if placement.kind == "image":
        value = binding_value(binding, context)
        if isinstance(value, str) and value.startswith("data:image/png;base64,"):
            return f'<img class="placed image" style="{style}" src="{html.escape(value)}" alt="">'
        return ""
    if placement.kind == "check":
        mark = "✓" if binding_value(binding, context) not in (None, "", False, "0") else ""
        return f'<div class="placed check" style="{style}">{mark}</div>'
    return f'<div class="placed" style="{style}">{html.escape(binding_text(binding, context))}</div>'


def _overlay_html(source: RenderSource, context: Mapping[str, Any], qr: str) -> str:
    layout: Layout = source.spec.layout
    pages = []
    for number, page in enumerate(layout.pages, start=1):
        background = (
            f' style="background-image:url({source.background_uri(page.background)})"' if page.background else ""
        )
        placed = "".join(_placed_html(p, context) for p in layout.placements if p.page == number)
        box = layout.qr
        qr_img = (
            f'<img class="qr" src="{qr}" alt="" style="left:{box.x}mm;top:{box.y}mm;width:{box.size}mm;'
            f'height:{box.size}mm">'
            if qr
            else ""
        )
        pages.append(f'<div class="overlay-page"{background}>{placed}{qr_img}</div>')
    return f'<section class="form overlay form-{source.code}">{"".join(pages)}</section>'


def render_form_html(source: RenderSource, context: Mapping[str, Any], *, qr: str = "") -> str:
    """One form as an HTML ``<section>``; FormRenderError names the form when its template fails."""
    if source.spec.layout.mode == "overlay":
        return _overlay_html(source, context, qr)
    return _flow_html(source, context, qr)


_BASE_CSS = """
@page { size: A4; margin: 15mm 15mm 25mm 15mm; @bottom-right { content: element(qr); } }
@page overlay { margin: 0; }
body { margin: 0; }
.form.flow + .form, .form + .form.flow { break-before: page; }
.qr-running { position: running(qr); }
.qr-running img { width: 18mm; height: 18mm; }
.form.overlay { page: overlay; }
.overlay-page { position: relative; width: 210mm; height: 297mm; overflow: hidden;
  background-size: 210mm 297mm; background-repeat: no-repeat; break-after: page; }
.form.overlay:last-child .overlay-page:last-child { break-after: auto; }
.overlay-page .placed { position: absolute; line-height: 1.15; white-space: pre-wrap; overflow: visible; }
.overlay-page .placed.image { object-fit: contain; }
.overlay-page .qr { position: absolute; }
"""


def render_packet_html(forms: Sequence[tuple[RenderSource, Mapping[str, Any]]], *, reception_no: str = "") -> str:
    """One HTML document holding several forms, each starting on a new page, with a QR code of
    ``reception_no`` on every page (none when it is empty)."""
    qr = qr_data_uri(reception_no) if reception_no else ""
    styles = "".join(
        f"<style>{source.spec.layout.css}</style>"
        for source in dict((s.code, s) for s, _ in forms).values()
        if source.spec.layout.css
    )
    bodies = "".join(render_form_html(source, context, qr=qr) for source, context in forms)
    return (
        '<!doctype html><html lang="ja"><head><meta charset="utf-8">'
        f"<style>{font_stack_css()}{_BASE_CSS}</style>{styles}</head><body>{bodies}</body></html>"
    )


def _allowed_files() -> frozenset[Path]:
    """The only local files a form may load: the configured fonts."""
    paths = [settings.MADOGUCHI_GJ_FONT_PATH] if settings.MADOGUCHI_GJ_FONT_PATH else []
    return frozenset(Path(p).resolve() for p in paths)


def sandboxed_fetcher() -> Any:
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


@dataclass(frozen=True)
class RenderedPacket:
    pdf: bytes
    pages: int


def html_to_pdf(document: str) -> RenderedPacket:
    """The PDF of a rendered packet document, loading only what the sandboxed fetcher allows."""
    from weasyprint import HTML

    laid_out = HTML(string=document, url_fetcher=sandboxed_fetcher()).render()
    pdf: bytes = laid_out.write_pdf()
    return RenderedPacket(pdf=pdf, pages=len(laid_out.pages))


def render_packet(forms: Sequence[tuple[RenderSource, Mapping[str, Any]]], *, reception_no: str = "") -> RenderedPacket:
    """Render several forms into one PDF in one pass, with its page count."""
    return html_to_pdf(render_packet_html(forms, reception_no=reception_no))


def render_packet_pdf(forms: Sequence[tuple[RenderSource, Mapping[str, Any]]], *, reception_no: str = "") -> bytes:
    """Render several forms into one PDF in one pass."""
    return render_packet(forms, reception_no=reception_no).pdf


def render_csv_row(source: RenderSource, context: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    """The form's CSV header and the row for ``context``: each column's binding as text, byte-exact."""
    header = [column.header for column in source.spec.csv_columns]
    row = [binding_text(binding_parse(column.value), context) for column in source.spec.csv_columns]
    return header, row
