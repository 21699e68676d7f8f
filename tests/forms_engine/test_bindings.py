"""Prefill bindings: dotted paths over the documented form context, a few filters, and nothing else."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import pytest

from forms_engine.bindings import (
    CONTEXT_ROOTS,
    PERSON_KEYS,
    BindingInvalid,
    binding_check,
    binding_parse,
    binding_text,
    binding_value,
)
from tests.conftest import IVS_NAME

# The field keys of a version and their columns, as VersionSpec.field_columns() gives them.
FIELDS = {"todokede_bi": (), "shimei": (), "idousha": ("shimei", "kana", "birth_date")}

CONTEXT: dict[str, Any] = {
    "today": dt.date(2026, 4, 1),
    "city": {"name": "窓口市"},
    "session": {
        "reception_no": "20260401-c1-0001",
        "event": "転入",
        "counter": "c1",
        "counter_name": "1番窓口",
    },
    "resident": {
        "shimei": f"{IVS_NAME}　花子",
        "kana": "かさい　はなこ",
        "birth_date": dt.date(1980, 1, 1),
        "address": "窓口市髙松町一丁目1番1号",
        "katagaki": "",
    },
    "household": [
        {"shimei": f"{IVS_NAME}　花子", "birth_date": dt.date(1980, 1, 1), "zokugara": "世帯主"},
        {"shimei": f"{IVS_NAME}　太郎", "birth_date": "1978-06-15", "zokugara": "夫"},
        {"shimei": f"{IVS_NAME}　𠮷子", "birth_date": dt.date(2026, 1, 10), "zokugara": "子"},
    ],
    "procedures": [
        {"name": "国民健康保険の加入", "department": "保険年金課", "counter": "3番窓口"},
        {"name": "児童手当の認定請求", "department": "こども家庭課", "counter": "7番窓口"},
    ],
    "fields": {
        "todokede_bi": "2026-04-01",
        "shimei": f"{IVS_NAME}　花子",
        "idousha": [{"shimei": "辻\U000e0102　一", "kana": "ツジ　ハジメ", "birth_date": "2019-05-01"}],
    },
    "answers": {},
}


def value(text: str, context: dict[str, Any] = CONTEXT) -> Any:
    return binding_value(binding_check(text, fields=FIELDS), context)


def text(text: str, context: dict[str, Any] = CONTEXT) -> str:
    return binding_text(binding_check(text, fields=FIELDS), context)


class TestPaths:
    def test_parse_splits_path_and_filters(self) -> None:
        binding = binding_parse("household | join('、', 'shimei')")
        assert binding.path == ("household",)
        assert binding.root == "household"
        assert [(f.name, f.args) for f in binding.filters] == [("join", ("、", "shimei"))]

    def test_resident_key(self) -> None:
        assert value("resident.address") == "窓口市髙松町一丁目1番1号"

    def test_household_row_and_key(self) -> None:
        assert value("household.1.zokugara") == "夫"
        assert value("household.1") == CONTEXT["household"][1]

    def test_a_row_past_the_end_is_none(self) -> None:
        assert value("household.9.shimei") is None
        assert text("household.9.shimei") == ""

    def test_session(self) -> None:
        assert text("session.reception_no") == "20260401-c1-0001"

    def test_fields_plain_and_list_column(self) -> None:
        assert value("fields.todokede_bi") == "2026-04-01"
        assert value("fields.idousha.0.kana") == "ツジ　ハジメ"

    def test_procedures(self) -> None:
        assert value("procedures.1.department") == "こども家庭課"
        assert len(value("procedures")) == 2

    def test_today_is_a_date_and_reads_iso(self) -> None:
        assert value("today") == dt.date(2026, 4, 1)
        assert text("today") == "2026-04-01"

    def test_every_root_is_documented(self) -> None:
        assert {"resident", "household", "session", "fields", "procedures", "today"} <= CONTEXT_ROOTS


class TestFilters:
    def test_wareki(self) -> None:
        assert value("resident.birth_date|wareki") == "昭和55年1月1日"

    def test_wareki_first_year_is_gannen(self) -> None:
        assert value("fields.idousha.0.birth_date|wareki") == "令和元年5月1日"

    def test_wareki_reads_iso_text_and_gives_empty_for_no_date(self) -> None:
        assert value("household.1.birth_date|wareki") == "昭和53年6月15日"
        assert value("resident.katagaki|wareki") == ""
        assert value("resident.shimei|wareki") == ""

    def test_wareki_before_meiji_does_not_break_the_form(self) -> None:
        context = {"resident": {"birth_date": dt.date(1860, 1, 1)}}
        assert value("resident.birth_date|wareki", context) == "1860-01-01"

    def test_age_uses_the_context_today(self) -> None:
        context = {**CONTEXT, "today": dt.date(2026, 1, 1)}
        assert value("resident.birth_date|age", context) == 46
        context = {**CONTEXT, "today": dt.date(2025, 12, 31)}
        assert value("resident.birth_date|age", context) == 45
        # The context may be JSON (the render queue): today as ISO text.
        assert value("resident.birth_date|age", {**CONTEXT, "today": "2000-01-01"}) == 20

    def test_age_on_a_given_day(self) -> None:
        assert value("resident.birth_date|age('1990-12-31')") == 10

    def test_age_zero_is_not_replaced_by_default(self) -> None:
        # A baby born this year is 0, not "unknown".
        assert text("household.2.birth_date|age|default('不明')") == "0"

    def test_join_with_separator_and_attribute(self) -> None:
        assert text("household|join('、', 'shimei')") == (
            f"{IVS_NAME}　花子、{IVS_NAME}　太郎、{IVS_NAME}　𠮷子"
        )
        assert text("household|join(' / ', 'zokugara')") == "世帯主 / 夫 / 子"

    def test_join_separator_may_be_a_comma(self) -> None:
        assert text("household|join(',', 'zokugara')") == "世帯主,夫,子"
        assert text('household|join(", ", "zokugara")') == "世帯主, 夫, 子"

    def test_join_skips_missing_values(self) -> None:
        assert text("procedures|join('・', 'note')") == ""
        assert text("procedures|join('・', 'counter')") == "3番窓口・7番窓口"

    def test_katakana(self) -> None:
        assert value("resident.kana|katakana") == "カサイ　ハナコ"

    def test_iso(self) -> None:
        assert value("resident.birth_date|iso") == "1980-01-01"

    def test_default(self) -> None:
        assert value("resident.katagaki|default('なし')") == "なし"
        assert value("resident.address|default('なし')") == "窓口市髙松町一丁目1番1号"

    def test_filters_apply_left_to_right(self) -> None:
        assert value("resident.katagaki|default('2019-05-01')|wareki") == "令和元年5月1日"


class TestErrors:
    def check_error(self, text: str, *needles: str) -> str:
        with pytest.raises(BindingInvalid) as caught:
            binding_check(text, fields=FIELDS)
        message = str(caught.value)
        for needle in needles:
            assert needle in message, message
        return message

    def test_unknown_root_names_the_allowed_roots(self) -> None:
        message = self.check_error(
            "settings.SECRET_KEY", "settings", "resident", "household", "fields", "today"
        )
        assert "SECRET_KEY" not in message.replace("'settings.SECRET_KEY'", "")

    def test_unknown_person_key(self) -> None:
        self.check_error("resident.password", "'password'", "shimei", "birth_date")
        self.check_error("household.0.password", "'password'")

    def test_dunder_is_no_key(self) -> None:
        self.check_error("__class__", "unknown name '__class__'")
        self.check_error("resident.__class__", "'__class__'")
        self.check_error("household.0.__class__", "'__class__'")

    def test_unknown_field(self) -> None:
        self.check_error("fields.nope", "no field 'nope'")

    def test_unknown_column(self) -> None:
        self.check_error("fields.idousha.0.nope", "no column 'nope'")

    def test_a_list_is_read_by_row_number(self) -> None:
        self.check_error("fields.idousha.kana", "row number")
        self.check_error("household.shimei", "row number")

    def test_a_plain_field_is_no_list(self) -> None:
        self.check_error("fields.shimei.0", "shimei")

    def test_a_column_has_no_parts(self) -> None:
        self.check_error("fields.idousha.0.kana.x", "kana")
        self.check_error("resident.shimei.x", "'shimei' has no parts")
        self.check_error("today.year", "today has no parts")

    def test_unknown_filter(self) -> None:
        self.check_error("resident.shimei|upper", "unknown filter 'upper'", "wareki", "join")

    def test_too_many_args(self) -> None:
        self.check_error("resident.birth_date|wareki('x')", "wareki takes at most 0")
        self.check_error("household|join('、', 'shimei', 'kana')", "join takes at most 2")

    def test_bad_argument(self) -> None:
        self.check_error("household|join(shimei)", "'shimei'", "quoted text or a whole number")

    def test_unclosed_quote(self) -> None:
        self.check_error("household|join('、, 'shimei')", "quote is not closed")

    @pytest.mark.parametrize(
        "garbage",
        ["resident..x", "", "   ", ".resident", "resident.", "resident.shimei|", "resident[0]", "household.-1",
         "resident.shimei()", "resident.shimei|wareki|"],
    )  # fmt: skip
    def test_garbage(self, garbage: str) -> None:
        with pytest.raises(BindingInvalid):
            binding_check(garbage, fields=FIELDS)

    def test_every_person_key_is_accepted(self) -> None:
        for key in PERSON_KEYS:
            binding_check(f"resident.{key}", fields=FIELDS)
            binding_check(f"household.0.{key}", fields=FIELDS)


class TestNoObjects:
    def test_an_object_attribute_is_never_read(self) -> None:
        context = {"resident": SimpleNamespace(shimei="秘密", birth_date=dt.date(1980, 1, 1))}
        assert value("resident.shimei", context) is None
        assert text("resident.birth_date|wareki", context) == ""

    def test_an_object_is_not_shown_through_its_repr(self) -> None:
        @dataclass
        class Person:
            shimei: str
            my_number: str

        person = Person(shimei="秘密", my_number="123456789012")
        context = {"resident": person, "household": [person]}
        assert "123456789012" not in text("resident", context)
        assert "123456789012" not in text("household|join('、')", context)
        assert "123456789012" not in text("household|join('、', 'my_number')", context)

    def test_dunder_segments_read_nothing_from_plain_data(self) -> None:
        binding = binding_parse("resident.__class__")
        assert binding_value(binding, CONTEXT) is None

    def test_a_string_is_not_indexed(self) -> None:
        binding = binding_parse("resident.shimei.0")
        assert binding_value(binding, CONTEXT) is None


class TestText:
    def test_missing_values_are_empty(self) -> None:
        assert text("resident.honseki") == ""
        assert text("answers.anything") == ""
        assert text("fields.idousha.3.kana") == ""
        assert text("household.1.birth_date", {}) == ""

    def test_booleans_are_one_and_zero(self) -> None:
        assert text("resident.foreign", {"resident": {"foreign": True}}) == "1"
        assert text("resident.foreign", {"resident": {"foreign": False}}) == "0"

    def test_dates_are_iso(self) -> None:
        assert text("resident.birth_date") == "1980-01-01"

    def test_mj_text_is_byte_exact(self) -> None:
        shown = text("resident.shimei")
        assert shown == f"{IVS_NAME}　花子"
        assert shown.encode("utf-8") == "葛\U000e0102西　花子".encode()
        assert "\U000e0102" in text("fields.idousha.0.shimei")
        assert text("resident.katagaki|default('﨑山ハイツ')") == "\ufa11山ハイツ"


def test_postal_count_eq_and_literal_bindings() -> None:
    context = {"resident": {"postal_code": "7600001", "sex": "女"}, "household": [{}, {}, {}]}
    assert binding_text(binding_check("resident.postal_code|postal", fields={}), context) == "760-0001"
    assert binding_value(binding_check("household|count", fields={}), context) == 3
    assert binding_value(binding_check("resident.sex|eq('女')", fields={}), context) is True
    assert binding_value(binding_check("resident.sex|eq('男')", fields={}), context) is False
    assert binding_value(binding_check("'世帯全員'", fields={}), context) == "世帯全員"
    assert binding_value(binding_check("'1'", fields={}), {}) == "1"


def test_age_filters_count_on_the_context_today() -> None:
    household = [{"shimei": "子", "birth_date": "2011-11-22"}, {"shimei": "祖母", "birth_date": "1951-11-21"}]
    context = {"today": dt.date(2026, 11, 21), "household": household}
    under = binding_check("household|age_under(15)|join('、', 'shimei')", fields={})
    assert binding_value(under, context) == "子"  # 14 until tomorrow
    assert binding_value(under, {**context, "today": dt.date(2026, 11, 22)}) == ""
    assert (
        binding_value(binding_check("household|age_at_least(75)|join('、', 'shimei')", fields={}), context)
        == "祖母"
    )
