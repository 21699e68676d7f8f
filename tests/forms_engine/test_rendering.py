import datetime as dt

import pytest

from forms_engine.rendering import (
    FormRenderError,
    RenderSource,
    render_csv_row,
    render_html,
    render_packet_pdf,
)
from forms_engine.selectors import form_version_current, render_source
from tests.conftest import IVS_NAME
from tests.pdftools import pdf_attachments, pdf_fonts, pdf_text

CONTEXT = {
    "city": {"name": "窓口市"},
    "today": dt.date(2026, 11, 21),
    "reception": {"no": "20261121-c1-0001", "event": "転入"},
    "resident": {
        "atena_no": "0000000019",
        "setai_no": "9000000015",
        "shi": IVS_NAME,
        "mei": "花子",
        "shimei": f"{IVS_NAME}　花子",
        "kana": "カサイ　ハナコ",
        "shi_kana": "カサイ",
        "mei_kana": "ハナコ",
        "birth_date": dt.date(1980, 1, 1),
        "postal_code": "7600001",
        "address": "窓口市葛西町",
        "katagaki": "",
        "setainushi_shimei": f"{IVS_NAME}　花子",
    },
    "household": [
        {
            "shimei": f"{IVS_NAME}　花子",
            "kana": "カサイ　ハナコ",
            "birth_date": dt.date(1980, 1, 1),
            "sex": "女",
            "zokugara": "世帯主",
            "atena_no": "0000000019",
        }
    ],
}


@pytest.mark.django_db
def test_juminido_pdf_embeds_ipamj_and_keeps_the_ivs(starter_forms, tmp_path) -> None:
    version = form_version_current(code="juminido")
    path = tmp_path / "juminido.pdf"
    path.write_bytes(render_packet_pdf([(render_source(version=version), CONTEXT)]))
    fonts = pdf_fonts(path)
    assert "IPAmjMincho" in fonts
    assert all(" yes " in line for line in fonts.splitlines()[2:]), fonts  # every font embedded
    text = pdf_text(path)
    assert IVS_NAME in text  # 葛 + U+E0102, the variation selector survives
    assert "昭和55年1月1日" in text
    assert "令和8年11月21日" in text


def test_values_are_escaped_in_html() -> None:
    html = render_html(
        RenderSource(code="t", body="{{ resident.shimei }}"),
        {"resident": {"shimei": "<script>alert(1)</script>"}},
    )
    assert "<script>" not in html and "&lt;script&gt;" in html


def test_templates_are_sandboxed() -> None:
    with pytest.raises(FormRenderError, match="form evil"):
        render_html(RenderSource(code="evil", body="{{ ''.__class__.__mro__[1].__subclasses__() }}"), {})


def test_csv_row_is_byte_exact_and_not_html_escaped() -> None:
    source = RenderSource(
        code="t", body="", csv_columns=[["氏", "resident.shi"], ["住所", "resident.address"]]
    )
    header, row = render_csv_row(source, {"resident": {"shi": IVS_NAME, "address": "A&B <棟>"}})
    assert header == ["氏", "住所"]
    assert row == [IVS_NAME, "A&B <棟>"]


def test_a_form_cannot_read_server_files_or_the_network(tmp_path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("DJANGO_SECRET_KEY=do-not-leak")
    body = (
        f'<p>申請書</p><a rel="attachment" href="file://{secret}">a</a><img src="file://{secret}">'
        '<link rel="stylesheet" href="http://127.0.0.1:9/x.css"><img src="secret.txt">'
        '<img src="data:image/gif;base64,R0lGODlhAQABAAAAACw=">'
    )
    path = tmp_path / "out.pdf"
    path.write_bytes(render_packet_pdf([(RenderSource(code="evil", body=body), {})]))
    assert "0 embedded files" in pdf_attachments(path)
    assert "申請書" in pdf_text(path)


@pytest.mark.django_db
def test_the_version_in_effect_today_is_used() -> None:
    import json

    from forms_engine.services import STARTER_DIR, FormFileInvalid, form_template_import

    data = json.loads((STARTER_DIR / "juminido.json").read_text(encoding="utf-8"))
    form_template_import(data=data, source="v1")
    future = {**data, "version": {**data["version"], "number": 2, "effective_from": "2999-04-01"}}
    form_template_import(data=future, source="v2")
    assert form_version_current(code="juminido").number == 1
    assert form_version_current(code="juminido", on=dt.date(2999, 4, 1)).number == 2
    with pytest.raises(FormFileInvalid, match="format must be"):
        form_template_import(data={**data, "format": "other/9"}, source="x.json")
