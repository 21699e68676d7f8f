"""Rendering, checked on the real output: poppler reads the PDF, zbar reads its QR codes."""

import datetime as dt
import io
import json
from collections.abc import Sequence

import pytest
from PIL import Image

from forms_engine.rendering import (
    FormRenderError,
    RenderSource,
    render_csv_row,
    render_form_html,
    render_packet,
    render_packet_pdf,
)
from forms_engine.schema import VersionSpec
from forms_engine.selectors import (
    form_sample_context,
    form_version_current,
    form_versions_current,
    render_source,
)
from forms_engine.services import STARTER_DIR, FormFileInvalid, form_file_import, form_fill
from tests.conftest import IVS_NAME
from tests.pdftools import pdf_attachments, pdf_fonts, pdf_pages, pdf_qr_codes, pdf_text, pdf_words

RECEPTION_NO = "20261121-c1-0001"


def flow(body: str, *, code: str = "t", css: str = "", csv: Sequence[tuple[str, str]] = ()) -> RenderSource:
    spec = VersionSpec.model_validate(
        {
            "number": 1,
            "layout": {"mode": "flow", "body": body, "css": css},
            "csv_columns": [{"header": h, "value": v} for h, v in csv],
        }
    )
    return RenderSource(code=code, name=code, number=1, spec=spec)


def png(width: int, height: int, colour: int = 255) -> bytes:
    buffer = io.BytesIO()
    Image.new("L", (width, height), colour).save(buffer, format="PNG")
    return buffer.getvalue()


def overlay(
    placements: list[dict], *, background: bytes | None = None, fields: Sequence[dict] = ()
) -> RenderSource:
    spec = VersionSpec.model_validate(
        {
            "number": 1,
            "fields": list(fields),
            "layout": {
                "mode": "overlay",
                "pages": [{"background": "page1.png" if background else ""}],
                "placements": placements,
            },
        }
    )
    backgrounds = {"page1.png": background} if background else {}
    return RenderSource(code="ov", name="ov", number=1, spec=spec, backgrounds=backgrounds)


@pytest.mark.django_db
def test_juminido_pdf_embeds_ipamj_and_keeps_the_ivs(starter_forms, tmp_path) -> None:
    version = form_version_current(code="juminido")
    source = render_source(version=version)
    context = form_fill(spec=source.spec, context=form_sample_context(today=dt.date(2026, 11, 21)))
    path = tmp_path / "juminido.pdf"
    path.write_bytes(render_packet_pdf([(source, context)], reception_no=RECEPTION_NO))
    fonts = pdf_fonts(path)
    assert "IPAmjMincho" in fonts
    assert all(" yes " in line for line in fonts.splitlines()[2:]), fonts  # every font embedded
    text = pdf_text(path)
    assert IVS_NAME in text  # 葛 + U+E0102, the variation selector survives
    assert "辻\U000e0102枝" in text and "𠮷子" in text and "髙松町" in text and "﨑山" in text
    assert "昭和55年1月1日" in text  # birth dates in 和暦
    assert "令和8年11月21日" in text  # 届出日 prefilled from today
    assert pdf_pages(path) == 1
    assert pdf_qr_codes(path, page=1, tmp=tmp_path) == [RECEPTION_NO]


def test_values_are_escaped_in_html() -> None:
    html = render_form_html(
        flow("{{ resident.shimei }}"), {"resident": {"shimei": "<script>alert(1)</script>"}}
    )
    assert "<script>" not in html and "&lt;script&gt;" in html


def test_template_errors_name_the_form() -> None:
    with pytest.raises(FormRenderError, match="form evil v1"):
        render_form_html(flow("{{ ''.__class__.__mro__[1].__subclasses__() }}", code="evil"), {})
    with pytest.raises(FormRenderError, match=r"form evil v1: .*unknown name 'settings'"):
        render_form_html(flow("{{ settings.SECRET_KEY }}", code="evil"), {})


def test_csv_row_is_byte_exact_and_not_html_escaped() -> None:
    source = flow(
        "x", csv=[("氏", "resident.shi"), ("住所", "resident.address"), ("生年月日", "resident.birth_date")]
    )
    context = {"resident": {"shi": IVS_NAME, "address": "A&B <棟>", "birth_date": dt.date(1980, 1, 1)}}
    header, row = render_csv_row(source, context)
    assert header == ["氏", "住所", "生年月日"]
    assert row == [IVS_NAME, "A&B <棟>", "1980-01-01"]


def test_a_form_cannot_read_server_files_or_the_network(tmp_path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("DJANGO_SECRET_KEY=do-not-leak")
    body = (
        f'<p>申請書</p><a rel="attachment" href="file://{secret}">a</a><img src="file://{secret}">'
        '<link rel="stylesheet" href="http://127.0.0.1:9/x.css"><img src="secret.txt">'
        '<img src="data:image/gif;base64,R0lGODlhAQABAAAAACw=">'
    )
    path = tmp_path / "out.pdf"
    path.write_bytes(render_packet_pdf([(flow(body), {})]))
    assert "0 embedded files" in pdf_attachments(path)
    assert "申請書" in pdf_text(path) and "do-not-leak" not in pdf_text(path)


def test_a_packet_is_one_pdf_with_the_right_pages_and_a_qr_code_on_each(tmp_path) -> None:
    long_form = flow("".join(f"<p style='height: 30mm'>行 {n}</p>" for n in range(12)), code="long")
    forms = [
        (flow("<h1>一枚目</h1>", code="one"), {}),
        (long_form, {}),  # 12 × 30 mm of content: two A4 pages
        (
            overlay([{"value": "city.name", "x": 30, "y": 40}], background=png(420, 594)),
            {"city": {"name": "窓口市"}},
        ),
    ]
    packet = render_packet(forms, reception_no=RECEPTION_NO)
    path = tmp_path / "packet.pdf"
    path.write_bytes(packet.pdf)
    assert packet.pages == pdf_pages(path) == 4
    for page in range(1, 5):
        assert pdf_qr_codes(path, page=page, tmp=tmp_path) == [RECEPTION_NO], f"page {page}"
    words = {word for word, *_ in pdf_words(path)}
    assert {"一枚目", "窓口市"} <= words


def test_an_overlay_field_lands_where_it_was_placed(tmp_path) -> None:
    fields = [
        {"key": "shimei", "label": "氏名", "type": "mj_text"},
        {"key": "day", "label": "届出日", "type": "date"},
    ]
    source = overlay(
        [
            {"value": "fields.shimei", "x": 42.5, "y": 61, "width": 80, "height": 9, "font_size": 14},
            {"value": "fields.day|wareki", "x": 120, "y": 200, "width": 60, "font_size": 10},
        ],
        background=png(1240, 1754),
        fields=fields,
    )
    context = {"fields": {"shimei": f"{IVS_NAME}　花子", "day": "2026-04-01"}}
    path = tmp_path / "overlay.pdf"
    path.write_bytes(render_packet_pdf([(source, context)]))
    words = {word: (x, y, page) for word, x, y, page in pdf_words(path)}
    x, y, page = words[IVS_NAME]
    assert page == 1
    assert abs(x - 42.5) < 0.6 and 61 <= y < 63, (x, y)
    x, y, _ = words["令和8年4月1日"]
    assert abs(x - 120) < 0.6 and 200 <= y < 202, (x, y)


def test_the_signature_image_is_placed_where_the_form_says(tmp_path) -> None:
    import base64
    import subprocess

    signature = "data:image/png;base64," + base64.b64encode(png(200, 60, colour=0)).decode()
    source = overlay(
        [{"value": "fields.sign", "x": 100, "y": 150, "width": 50, "height": 15, "kind": "image"}],
        fields=[{"key": "sign", "label": "署名", "type": "signature"}],
    )
    path = tmp_path / "signed.pdf"
    path.write_bytes(render_packet_pdf([(source, {"fields": {"sign": signature}})]))
    subprocess.run(
        ["pdftoppm", "-r", "50.8", "-gray", "-png", "-singlefile", str(path), str(tmp_path / "p")], check=True
    )
    page = Image.open(tmp_path / "p.png").convert("L")  # 50.8 dpi: 2 pixels per millimetre
    grey = page.tobytes()  # one byte per pixel in mode L
    dark = [(n % page.width / 2, n // page.width / 2) for n, value in enumerate(grey) if value < 128]
    assert dark, "the signature is not on the page"
    xs, ys = [x for x, _ in dark], [y for _, y in dark]
    assert min(xs) >= 99.5 and max(xs) <= 150.5 and min(ys) >= 149.5 and max(ys) <= 165.5, (
        min(xs),
        max(xs),
        min(ys),
        max(ys),
    )


def test_the_gj_font_follows_the_mj_font(settings, tmp_path) -> None:
    from forms_engine.rendering import font_stack_css, render_packet_html

    font = tmp_path / "gj.ttf"
    font.write_bytes(b"")
    settings.MADOGUCHI_GJ_FONT_PATH = str(font)
    css = font_stack_css()
    assert '@font-face { font-family: "madoguchi-gj"' in css
    assert 'font-family: "IPAmj明朝", "IPAmjMincho", "madoguchi-gj", serif' in css
    assert render_packet_html([(flow("x"), {})]).index("IPAmj明朝") < render_packet_html(
        [(flow("x"), {})]
    ).index("<body>")


@pytest.mark.django_db
def test_the_version_in_effect_on_a_day_is_used() -> None:
    data = json.loads((STARTER_DIR / "juminido.json").read_text(encoding="utf-8"))
    v1 = data["versions"][0]
    data["versions"] = [
        {**v1, "number": 1, "effective_from": "2026-04-01", "effective_to": "2027-03-31"},
        {**v1, "number": 2, "effective_from": "2999-04-01"},
    ]
    form_file_import(content=json.dumps(data).encode(), source="juminido.json", actor=None)
    assert form_version_current(code="juminido", on=dt.date(2026, 11, 21)).number == 1
    assert form_version_current(code="juminido", on=dt.date(2999, 4, 1)).number == 2
    from forms_engine.models import FormVersion

    with pytest.raises(FormVersion.DoesNotExist):
        form_version_current(code="juminido", on=dt.date(2028, 1, 1))  # v1 ended, v2 not yet begun
    # Several forms in one query (申請書作成): the same choice per code; a code with none in effect is absent.
    both = ["juminido", "nosuchform"]
    assert {c: v.number for c, v in form_versions_current(codes=both, on=dt.date(2026, 11, 21)).items()} == {
        "juminido": 1
    }
    assert form_versions_current(codes=both, on=dt.date(2999, 4, 1))["juminido"].number == 2
    assert form_versions_current(codes=both, on=dt.date(2028, 1, 1)) == {}
    with pytest.raises(FormFileInvalid, match="format must be"):
        form_file_import(
            content=json.dumps({**data, "format": "other/9"}).encode(), source="x.json", actor=None
        )
