"""Server-side validation of filled form data (``form_data_clean``) and the rules the browser shows
(``input_rules``): the same limits on both sides, values byte-exact, MJ+ checked, formulas refused."""

from __future__ import annotations

import base64
import io
import re
from typing import Any

import pytest
from PIL import Image

from forms_engine.schema import FieldSpec
from forms_engine.validation import form_data_clean, input_rules
from tests.conftest import IVS_NAME


def spec(key: str = "value", type: str = "mj_text", **values: Any) -> FieldSpec:
    return FieldSpec.model_validate({"key": key, "label": key, "type": type, **values})


def clean(field: FieldSpec, raw: Any) -> tuple[Any, list[str]]:
    """The cleaned value of one field and its messages."""
    cleaned, errors = form_data_clean([field], {field.key: raw})
    return cleaned[field.key], errors.get(field.key, [])


def accepted(field: FieldSpec, raw: Any) -> Any:
    value, errors = clean(field, raw)
    assert errors == [], errors
    return value


def refused(field: FieldSpec, raw: Any) -> str:
    _, errors = clean(field, raw)
    assert errors, f"{raw!r} was accepted"
    return " ".join(errors)


def image_bytes(format: str) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (40, 20), "white").save(buffer, format)
    return buffer.getvalue()


def data_uri(content: bytes, content_type: str = "image/png") -> str:
    return f"data:{content_type};base64,{base64.b64encode(content).decode('ascii')}"


IDOUSHA = spec(
    "idousha",
    "person_list",
    max_items=3,
    columns=[
        {"key": "shimei", "label": "氏名", "type": "mj_text", "required": True},
        {"key": "kana", "label": "フリガナ", "type": "kana"},
        {"key": "birth_date", "label": "生年月日", "type": "date"},
    ],
)


class TestTypes:
    def test_mj_text_is_kept_byte_exact(self) -> None:
        name = f"{IVS_NAME}　花子"
        assert accepted(spec(), name).encode("utf-8") == name.encode("utf-8")

    def test_mj_text_keeps_surrounding_spaces(self) -> None:
        assert accepted(spec(), " 花子　") == " 花子　"

    def test_kana(self) -> None:
        assert accepted(spec(type="kana"), "カサイ　ハナコ") == "カサイ　ハナコ"
        assert accepted(spec(type="kana"), "ヴィクトール・ユーゴー") == "ヴィクトール・ユーゴー"
        assert "カタカナ" in refused(spec(type="kana"), "かさい")
        assert "カタカナ" in refused(spec(type="kana"), "ｶｻｲ")
        assert "カタカナ" in refused(spec(type="kana"), "葛西")

    @pytest.mark.parametrize(
        "typed", ["R8.4.1", "令和8年4月1日", "2026-04-01", "5080401", "r8/4/1", "Ｒ８．４．１"]
    )
    def test_date_as_clerks_type_it_is_stored_iso(self, typed: str) -> None:
        assert accepted(spec(type="date"), typed) == "2026-04-01"

    @pytest.mark.parametrize("typed", ["2026-02-30", "令和1年4月30日", "明日", "8.4.1"])
    def test_date_that_is_none(self, typed: str) -> None:
        assert "日付として読めません" in refused(spec(type="date"), typed)

    def test_choice(self) -> None:
        field = spec(type="choice", choices=["転入", "転居"])
        assert accepted(field, "転入") == "転入"
        assert "選択肢" in refused(field, "転出")

    def test_number_min_max(self) -> None:
        field = spec(type="number", min_value=1, max_value=10)
        assert accepted(field, "1") == 1
        assert accepted(field, " 10 ") == 10
        assert "1以上" in refused(field, "0")
        assert "10以下" in refused(field, "11")
        assert "数字" in refused(field, "1.5")
        assert "数字" in refused(field, "二")

    def test_phone(self) -> None:
        assert accepted(spec(type="phone"), "087-839-2011") == "087-839-2011"
        assert accepted(spec(type="phone"), "09012345678") == "09012345678"
        assert "電話番号" in refused(spec(type="phone"), "+81-87-839-2011")
        assert "電話番号" in refused(spec(type="phone"), "087(839)2011")

    def test_postal_code(self) -> None:
        assert accepted(spec(type="postal_code"), "760-8571") == "760-8571"
        assert accepted(spec(type="postal_code"), "7608571") == "7608571"
        assert "郵便番号" in refused(spec(type="postal_code"), "760-857")
        assert "郵便番号" in refused(spec(type="postal_code"), "〒760-8571")

    def test_full_width_digits_are_refused_where_the_browser_refuses_them(self) -> None:
        # The core system takes ASCII digits; the browser's pattern (\d) refuses full-width ones too.
        assert "郵便番号" in refused(spec(type="postal_code"), "７６０－８５７１")
        assert "郵便番号" in refused(spec(type="postal_code"), "７６０８５７１")
        assert "電話番号" in refused(spec(type="phone"), "０８７８３９２０１１")

    def test_address_keeps_compatibility_ideographs(self) -> None:
        address = "窓口市髙松町\ufa11山一丁目"
        assert accepted(spec(type="address"), address) == address

    def test_checkbox(self) -> None:
        field = spec(type="checkbox")
        assert accepted(field, "on") is True
        assert accepted(field, True) is True
        assert accepted(field, "") is False
        assert form_data_clean([field], {})[0] == {"value": False}
        assert "チェック" in refused(field, "maybe")


class TestPersonList:
    def test_rows_are_cleaned(self) -> None:
        rows = accepted(IDOUSHA, [{"shimei": IVS_NAME, "kana": "カサイ", "birth_date": "S55.1.1"}])
        assert rows == [{"shimei": IVS_NAME, "kana": "カサイ", "birth_date": "1980-01-01"}]

    def test_errors_are_keyed_by_row_and_column(self) -> None:
        _, errors = form_data_clean(
            [IDOUSHA],
            {"idousha": [
                {"shimei": "葛西　花子", "kana": "カサイ　ハナコ"},
                {"shimei": "=HYPERLINK()", "kana": "かさい", "birth_date": "昨日"},
            ]},
        )  # fmt: skip
        assert set(errors) == {"idousha.1.shimei", "idousha.1.kana", "idousha.1.birth_date"}
        assert "数式" in errors["idousha.1.shimei"][0]
        assert "カタカナ" in errors["idousha.1.kana"][0]
        assert (
            "必須" in form_data_clean([IDOUSHA], {"idousha": [{"kana": "カサイ"}]})[1]["idousha.0.shimei"][0]
        )

    def test_blank_rows_are_dropped_without_errors(self) -> None:
        cleaned, errors = form_data_clean(
            [IDOUSHA],
            {
                "idousha": [
                    {"shimei": "葛西　花子"},
                    {"shimei": "", "kana": "", "birth_date": ""},
                    {"shimei": "　"},
                ]
            },
        )
        assert errors == {}
        assert cleaned["idousha"] == [{"shimei": "葛西　花子", "kana": "", "birth_date": ""}]

    def test_too_many_rows(self) -> None:
        _, errors = form_data_clean([IDOUSHA], {"idousha": [{"shimei": f"人{n}"} for n in range(4)]})
        assert "3人まで" in errors["idousha"][0]

    def test_not_a_list(self) -> None:
        _, errors = form_data_clean([IDOUSHA], {"idousha": "葛西　花子"})
        assert "一覧の形" in errors["idousha"][0]

    def test_required_list(self) -> None:
        field = IDOUSHA.model_copy(update={"required": True})
        assert "必須" in refused(field, [])


class TestSignature:
    def test_a_png_is_accepted_as_sent(self) -> None:
        uri = data_uri(image_bytes("PNG"))
        assert accepted(spec(type="signature"), uri) == uri

    def test_a_jpeg_is_refused(self) -> None:
        jpeg = image_bytes("JPEG")
        assert "PNG" in refused(spec(type="signature"), data_uri(jpeg, "image/jpeg"))
        assert "壊れて" in refused(spec(type="signature"), data_uri(jpeg))

    def test_garbage_is_refused(self) -> None:
        assert "壊れて" in refused(spec(type="signature"), "data:image/png;base64,not base64!")
        assert "壊れて" in refused(spec(type="signature"), data_uri(b"GIF89a" + b"\0" * 20))
        assert "PNG" in refused(spec(type="signature"), "javascript:alert(1)")

    def test_a_png_header_on_garbage_is_refused(self) -> None:
        png = image_bytes("PNG")
        assert "壊れて" in refused(spec(type="signature"), data_uri(b"\x89PNG\r\n\x1a\n" + b"garbage" * 10))
        assert "壊れて" in refused(spec(type="signature"), data_uri(png[:30]))


class TestRequiredAndUnknown:
    def test_required(self) -> None:
        _, errors = form_data_clean([spec(required=True), spec("d", "date", required=True)], {})
        assert errors == {"value": ["必須です"], "d": ["必須です"]}

    def test_required_is_not_met_by_spaces(self) -> None:
        assert "必須" in refused(spec(required=True), "　 ")

    def test_optional_empty_is_fine(self) -> None:
        assert accepted(spec(), "") == ""

    def test_unknown_keys_are_refused(self) -> None:
        _, errors = form_data_clean([spec()], {"value": "花子", "is_admin": "1"})
        assert list(errors) == ["is_admin"]
        assert "この様式にない項目" in errors["is_admin"][0]

    def test_unknown_keys_inside_a_list_row_are_refused_too(self) -> None:
        _, errors = form_data_clean(
            [IDOUSHA], {"idousha": [{"shimei": "花子", "birth_date": "S55.1.1", "x": "1"}]}
        )
        assert list(errors) == ["idousha.0.x"]


class TestMojiAndFormulas:
    def test_moji_joho_ivs_is_accepted_byte_exact(self) -> None:
        assert accepted(spec(), "葛\U000e0102西") == "葛\U000e0102西"

    def test_adobe_japan1_ivs_is_refused(self) -> None:
        message = refused(spec(), "葛\U000e0100西")
        assert "2文字目" in message and "Moji_Joho" in message

    def test_bmp_private_use_is_refused(self) -> None:
        assert "private-use" in refused(spec(), "山\ue000")

    def test_replacement_character_is_refused(self) -> None:
        assert "U+FFFD" in refused(spec(type="address"), "窓口市\ufffd町")

    def test_control_character_is_refused(self) -> None:
        assert "U+0007" in refused(spec(), "花\x07子")

    @pytest.mark.parametrize("formula", ["=SUM(A1)", "+81878392011", "-1", "@x", "\t=1"])
    def test_formulas_are_refused_with_a_message(self, formula: str) -> None:
        message = refused(spec(), formula)
        assert "表計算ソフトで数式と扱われる" in message
        assert "表計算ソフトで数式と扱われる" in refused(spec(type="address"), formula)

    def test_the_formula_message_names_the_character(self) -> None:
        assert "「=」" in refused(spec(), "=1+1")

    def test_names_are_never_normalised(self) -> None:
        name = "\ufa30田"  # 侮 (CJK compatibility ideograph); NFC would make it U+4FAE
        value = accepted(spec(), name)
        assert value == name and ord(value[0]) == 0xFA30

    def test_outside_bmp_is_kept(self) -> None:
        assert accepted(spec(), "𠮷田") == "𠮷田"


class TestInputRules:
    @pytest.mark.parametrize(("type", "limit"), [("mj_text", 100), ("kana", 100), ("address", 200)])
    def test_default_maxlength_is_where_the_server_starts_refusing(self, type: str, limit: int) -> None:
        field = spec(type=type)
        assert input_rules(field)["maxlength"] == limit
        assert accepted(field, "ア" * limit) == "ア" * limit
        assert "文字以内" in refused(field, "ア" * (limit + 1))

    def test_set_maxlength_is_where_the_server_starts_refusing(self) -> None:
        field = spec(max_length=5)
        rules = input_rules(field)
        assert rules["maxlength"] == 5
        accepted(field, "あいうえお")
        assert "5文字以内" in refused(field, "あいうえおか")

    def test_kana_pattern_accepts_what_the_server_accepts(self) -> None:
        field = spec(type="kana")
        pattern = input_rules(field)["pattern"]
        for value in ["カサイ　ハナコ", "ヴィクトール・ユーゴー", "カサイ ハナコ", "ヰヱヲ"]:
            assert re.fullmatch(pattern, value), value
            accepted(field, value)
        for value in ["かさい", "ｶｻｲ", "Kasai", "葛西"]:
            assert not re.fullmatch(pattern, value), value
            refused(field, value)

    def test_phone_and_postal_patterns_match_the_server(self) -> None:
        for type, good, bad in [
            (
                "phone",
                ["087-839-2011", "0878392011"],
                ["+81878392011", "87-839-2011", "０８７８３９２０１１"],
            ),
            ("postal_code", ["760-8571", "7608571"], ["760857", "７６０８５７１"]),
        ]:
            field = spec(type=type)
            rules = input_rules(field)
            for value in good:
                assert re.fullmatch(rules["pattern"], value, re.ASCII), value
                accepted(field, value)
            for value in bad:
                assert not re.fullmatch(rules["pattern"], value, re.ASCII), value
                refused(field, value)

    def test_number_min_max(self) -> None:
        rules = input_rules(spec(type="number", min_value=0, max_value=99, required=True))
        assert rules == {"required": True, "type": "number", "min": 0, "max": 99}

    def test_required_only_when_required(self) -> None:
        assert "required" not in input_rules(spec())
        assert input_rules(spec(required=True))["required"] is True

    def test_checkbox(self) -> None:
        assert input_rules(spec(type="checkbox")) == {"type": "checkbox"}
