"""``manage.py render_form`` as an operator runs it, in its own process."""

import pytest

from tests.conftest import IVS_NAME, manage_py
from tests.factories import atena
from tests.pdftools import pdf_fonts, pdf_text

pytestmark = pytest.mark.django_db(transaction=True)


def test_render_form_writes_a_pdf_with_the_mj_font_and_the_ivs(small_city, starter_forms, tmp_path) -> None:
    out = tmp_path / "juminido.pdf"
    result = manage_py("render_form", "juminido", "--resident", atena(1), "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert "IPAmjMincho" in pdf_fonts(out)
    text = pdf_text(out)
    assert IVS_NAME in text  # 葛 + U+E0102: the variation selector survives into the PDF's text
    assert "〒760-0001" in text


def test_unknown_resident_is_a_clear_error(small_city, starter_forms, tmp_path) -> None:
    result = manage_py(
        "render_form", "juminido", "--resident", "0000000000", "--out", str(tmp_path / "x.pdf")
    )
    assert result.returncode != 0
    assert "0000000000: no such resident" in result.stderr
    assert not (tmp_path / "x.pdf").exists()
