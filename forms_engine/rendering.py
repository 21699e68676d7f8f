"""Rendering form versions: a packet of forms → one HTML document → one PDF (WeasyPrint), in one pass.

The engine knows nothing of sessions or residents; callers pass the documented context as plain dicts, with the
filled values under ``fields`` (``forms_engine.services.form_fill``). Flowing layouts are sandboxed Jinja2
(``forms_engine.sandbox``); overlay layouts are generated here from placements, with no admin-written HTML.
An MJ font comes first in every font stack, or WeasyPrint drops Moji_Joho variation selectors (domain.md §3).
"""

from __future__ import annotations

import base64
import functools
import html
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import jinja2
from django.conf import settings

from .bindings import (
    AGE_FILTERS,
    CONTEXT_ROOTS,
    FILTERS,
    binding_parse,
    binding_text,
    binding_value,
    with_today,
)
from .sandbox import TemplateSandboxError, sandbox_environment, sandbox_render, template_problems
from .schema import Layout, Placement, VersionSpec


class FormRenderError(Exception):
    """A form could not be rendered (syntax error, forbidden access, a budget exceeded); names the form."""


def _on_context_today(function: Callable[..., Any], most: int) -> Callable[..., Any]:
    """An age filter for templates: like a binding, it counts on the context's ``today`` unless told a day."""

    @jinja2.pass_context
    def counted(context: Any, value: Any, /, *args: Any) -> Any:
        return function(value, *with_today(args, most, context.get("today")))

    return counted


_FILTERS = {
    name: _on_context_today(function, most) if name in AGE_FILTERS else function
    for name, (function, most) in FILTERS.items()
}
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

    @functools.cached_property
    def background_uris(self) -> dict[str, str]:
        """Each background as a data URI, encoded once: a published version's source lives for the process."""
        return {
            name: f"data:{self.content_types.get(name, 'image/png')};base64,{base64.b64encode(data).decode('ascii')}"
            for name, data in self.backgrounds.items()
        }


def font_stack_css() -> str:
    """The @font-face rules and the base font-family: the MJ font first, then the optional GJ font."""
    families = [f'"{name}"' for name in settings.MADOGUCHI_PDF_FONT_FAMILY]
    face = ""
    if settings.MADOGUCHI_GJ_FONT_PATH:
        face = f'@font-face {{ font-family: "madoguchi-gj"; src: url("file://{settings.MADOGUCHI_GJ_FONT_PATH}"); }}\n'
        families.append('"madoguchi-gj"')
    return f"{face}html {{ font-family: {', '.join(families)}, serif; }}\n"


QR_SIZE_MM = 18
_QR_PIXELS_PER_MODULE = 8


@dataclass(frozen=True)
class PacketQr:
    """The QR code of a reception number: a PNG data URI, 8 pixels a module with its quiet zone, error correction
    M, and the dpi at which it is QR_SIZE_MM wide (a margin box sizes an image by its resolution). A bitmap is
    decoded once per packet; an SVG path would be drawn again on every page."""

    uri: str
    dpi: float


def packet_qr(text: str) -> PacketQr:
    import segno

    code = segno.make_qr(text, error="m")
    pixels = code.symbol_size(scale=_QR_PIXELS_PER_MODULE, border=4)[0]
    return PacketQr(
        uri=code.png_data_uri(scale=_QR_PIXELS_PER_MODULE, border=4),
        dpi=round(pixels / (QR_SIZE_MM / 25.4), 1),
    )


def flow_template_problems(body: str) -> list[str]:
    """Why a flowing layout's template cannot be used: syntax, names outside the context, file access."""
    return template_problems(_ENV, body, names=CONTEXT_ROOTS)


def layout_problems(layout: Layout) -> list[str]:
    """Why a layout cannot be published: its template (flowing layouts) and its CSS."""
    problems = (
        [f"layout.body: {problem}" for problem in flow_template_problems(layout.body)]
        if layout.mode == "flow"
        else []
    )
    return problems + [f"layout.{problem}" for problem in css_problems(layout.css)]


def _flow_html(source: RenderSource, context: Mapping[str, Any]) -> str:
    try:
        body = sandbox_render(_ENV, source.spec.layout.body, context, names=CONTEXT_ROOTS)
    except TemplateSandboxError as exc:
        raise FormRenderError(f"{source.label}: {exc}") from exc
    return f'<section class="form flow form-{source.code}">{body}</section>'


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
        # An <img>, not a CSS background: WeasyPrint's CSS tokenizer would re-read the whole data URI each time.
        background = (
            f'<img class="background" src="{source.background_uris[page.background]}" alt="">'
            if page.background
            else ""
        )
        placed = "".join(_placed_html(p, context) for p in layout.placements if p.page == number)
        box = layout.qr
        qr_img = (
            f'<img class="qr" src="{qr}" alt="" style="left:{box.x}mm;top:{box.y}mm;width:{box.size}mm;'
            f'height:{box.size}mm">'
            if qr
            else ""
        )
        pages.append(f'<div class="overlay-page">{background}{placed}{qr_img}</div>')
    return f'<section class="form overlay form-{source.code}">{"".join(pages)}</section>'


def render_form_html(source: RenderSource, context: Mapping[str, Any], *, qr: str = "") -> str:
    """One form as an HTML ``<section>``; FormRenderError names the form when its template fails. ``qr`` is the
    QR image an overlay page places itself (flowing pages carry it in their margin box)."""
    if source.spec.layout.mode == "overlay":
        return _overlay_html(source, context, qr)
    return _flow_html(source, context)


# The page rules stay in the document itself (author origin): the margin-box QR code of one packet is an @page
# rule too, and the overlay pages' ``content: none`` must outrank it. Flowing pages carry the QR code in their
# bottom-right margin box (a static image: a running element would double the layout time); overlay pages have no
# margin and place their own.
_PAGE_CSS = """
@page { size: A4; margin: 15mm 15mm 25mm 15mm; }
@page overlay { margin: 0; @bottom-right { content: none; } }
"""
# The rest of the engine's CSS and each form's scoped CSS are parsed once per process and handed to WeasyPrint as
# stylesheets (user origin, so a form's own CSS still outranks WeasyPrint's defaults): parsing and compiling the
# selectors of every form on every render was a seventh of the packet's time.
_BASE_CSS = """
body { margin: 0; }
.form.flow + .form, .form + .form.flow { break-before: page; }
.form.overlay { page: overlay; }
.overlay-page { position: relative; width: 210mm; height: 297mm; overflow: hidden; break-after: page; }
.overlay-page .background { position: absolute; left: 0; top: 0; width: 210mm; height: 297mm; }
.form.overlay:last-child .overlay-page:last-child { break-after: auto; }
.overlay-page .placed { position: absolute; line-height: 1.15; white-space: pre-wrap; overflow: visible; }
.overlay-page .placed.image { object-fit: contain; }
.overlay-page .qr { position: absolute; }
"""


_ROOT_SELECTORS = {"html", "body", ":root"}


def _css_rules(css: str) -> list[Any]:
    import tinycss2

    return [
        rule
        for rule in tinycss2.parse_stylesheet(css, skip_comments=True, skip_whitespace=True)
        if rule.type in ("qualified-rule", "at-rule", "error")
    ]


def css_problems(css: str) -> list[str]:
    """Why a form's CSS cannot be used: a syntax error, an at-rule (page size, margins and fonts are the engine's
    — they would change every form of a packet), or a font-family that does not start with the MJ font (then
    WeasyPrint drops Moji_Joho variation selectors and prints the wrong glyph)."""
    import tinycss2

    mj_families = {name.lower() for name in settings.MADOGUCHI_PDF_FONT_FAMILY}
    problems = []
    for rule in _css_rules(css):
        if rule.type == "error":
            problems.append(f"css line {rule.source_line}: {rule.message}")
        elif rule.type == "at-rule":
            problems.append(f"css line {rule.source_line}: @{rule.at_keyword} is not allowed in a form's CSS")
        else:
            for item in tinycss2.parse_declaration_list(
                rule.content or [], skip_comments=True, skip_whitespace=True
            ):
                if item.type == "declaration" and item.lower_name in ("font-family", "font"):
                    first = tinycss2.serialize(item.value).split(",")[0].strip().strip("'\"").lower()
                    if item.lower_name == "font-family" and first not in mj_families:
                        problems.append(
                            f"css line {item.source_line}: font-family must start with "
                            f'"{settings.MADOGUCHI_PDF_FONT_FAMILY[0]}" (the MJ font), not {first!r}'
                        )
                    elif item.lower_name == "font":
                        problems.append(
                            f"css line {item.source_line}: use font-size and font-weight, not font"
                        )
    return problems


@functools.lru_cache(maxsize=256)
def css_scoped(css: str, code: str) -> str:
    """A form's CSS confined to its own section, so forms in one packet cannot restyle each other: every selector
    is prefixed with ``.form-<code>`` (``html``/``body`` become the section itself); at-rules are dropped."""
    import tinycss2

    scope = f".form-{code}"
    out = []
    for rule in _css_rules(css):
        if rule.type != "qualified-rule":
            continue
        selectors = []
        for selector in tinycss2.serialize(rule.prelude).split(","):
            selector = selector.strip()
            head, _, rest = selector.partition(" ")
            if selector == scope or selector.startswith((f"{scope} ", f"{scope}.", f"{scope}:", f"{scope}>")):
                selectors.append(selector)  # scoped by its author already
            elif head in _ROOT_SELECTORS:
                selectors.append(f"{scope} {rest}".strip())
            else:
                selectors.append(f"{scope} {selector}")
        out.append(f"{', '.join(selectors)} {{{tinycss2.serialize(rule.content)}}}")
    return "\n".join(out)


@dataclass(frozen=True)
class PacketDocument:
    """A packet ready for WeasyPrint: the HTML (with its page rules) and the stylesheets parsed once per process
    (the engine's base CSS, then each form's scoped CSS)."""

    html: str
    stylesheets: tuple[str, ...]

    def standalone_html(self) -> str:
        """The same document with every stylesheet inline, for looking at it or rendering it elsewhere."""
        styles = "".join(f"<style>{css}</style>" for css in self.stylesheets)
        return self.html.replace("<style>", f"{styles}<style>", 1)


def render_packet_document(
    forms: Sequence[tuple[RenderSource, Mapping[str, Any]]], *, reception_no: str = ""
) -> PacketDocument:
    """One document holding several forms, each starting on a new page, with a QR code of ``reception_no`` on
    every page (none when it is empty)."""
    qr = packet_qr(reception_no) if reception_no else None
    form_styles = [
        css_scoped(source.spec.layout.css, source.code)
        for source in dict((s.code, s) for s, _ in forms).values()
        if source.spec.layout.css
    ]
    bodies = "".join(render_form_html(source, context, qr=qr.uri if qr else "") for source, context in forms)
    margin_qr = (
        f'@page {{ @bottom-right {{ content: url("{qr.uri}"); image-resolution: {qr.dpi}dpi;'
        " vertical-align: bottom; } }"
        if qr
        else ""
    )
    html_text = (
        '<!doctype html><html lang="ja"><head><meta charset="utf-8">'
        f"<style>{font_stack_css()}{margin_qr}{_PAGE_CSS}</style></head><body>{bodies}</body></html>"
    )
    return PacketDocument(html=html_text, stylesheets=(_BASE_CSS, *form_styles))


def render_packet_html(
    forms: Sequence[tuple[RenderSource, Mapping[str, Any]]], *, reception_no: str = ""
) -> str:
    """The packet as one self-contained HTML document (``render_packet_document``, stylesheets inline)."""
    return render_packet_document(forms, reception_no=reception_no).standalone_html()


@functools.lru_cache(maxsize=256)
def _stylesheet(css: str) -> Any:
    from weasyprint import CSS

    return CSS(string=css, url_fetcher=sandboxed_fetcher())


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


class _ImageCache(OrderedDict[str, Any]):
    """WeasyPrint's image cache, shared by renders and bounded: backgrounds of published forms are decoded once
    per process, and a reception's QR code does not stay for ever."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self._size, self._lock = size, threading.Lock()

    def __setitem__(self, key: str, value: Any) -> None:
        with self._lock:
            super().__setitem__(key, value)
            while len(self) > self._size:
                self.popitem(last=False)


_IMAGE_CACHE = _ImageCache(64)


@dataclass(frozen=True)
class RenderedPacket:
    pdf: bytes
    pages: int


def html_to_pdf(document: PacketDocument) -> RenderedPacket:
    """The PDF of a packet document, loading only what the sandboxed fetcher allows."""
    from weasyprint import HTML

    stylesheets = [_stylesheet(css) for css in document.stylesheets]
    laid_out = HTML(string=document.html, url_fetcher=sandboxed_fetcher()).render(
        stylesheets=stylesheets, cache=_IMAGE_CACHE
    )
    pdf: bytes = laid_out.write_pdf()
    return RenderedPacket(pdf=pdf, pages=len(laid_out.pages))


def render_packet(
    forms: Sequence[tuple[RenderSource, Mapping[str, Any]]], *, reception_no: str = ""
) -> RenderedPacket:
    """Render several forms into one PDF in one pass, with its page count."""
    return html_to_pdf(render_packet_document(forms, reception_no=reception_no))


def render_packet_pdf(
    forms: Sequence[tuple[RenderSource, Mapping[str, Any]]], *, reception_no: str = ""
) -> bytes:
    """Render several forms into one PDF in one pass."""
    return render_packet(forms, reception_no=reception_no).pdf


def render_csv_row(source: RenderSource, context: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    """The form's CSV header and the row for ``context``: each column's binding as text, byte-exact."""
    header = [column.header for column in source.spec.csv_columns]
    row = [binding_text(binding_parse(column.value), context) for column in source.spec.csv_columns]
    return header, row
