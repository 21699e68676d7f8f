"""The synthetic city 窓口市 (integrations/demo_city.py): layout, numbers, MJ characters, coherence."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections import defaultdict

import pytest

from integrations.demo_city import DEMO_IVS_ATENA_NO, DEMO_KICHI_ATENA_NO, demo_city_csv, demo_city_rows
from integrations.juki_import import parse_snapshot
from integrations.layouts import CODE_COLUMNS, DATE_COLUMNS, JUKI_V1_COLUMNS, REQUIRED_COLUMNS
from madoguchi.moji.checkdigit import is_valid, m11w27

TODAY = dt.date(2026, 11, 21)
IVS_KATSU = "葛\U000e0102"  # 葛 + VS19 (Moji_Joho collection)
MJ_MARKS = ("\U000e0102", "\ufa11", "\uf9dc", "𠮷", "髙", "邊", "邉", "齋", "齊", "濱")


@pytest.fixture(scope="module")
def data() -> bytes:
    return demo_city_csv(today=TODAY)


@pytest.fixture(scope="module")
def text(data: bytes) -> str:
    return data.decode("utf-8")


@pytest.fixture(scope="module")
def table(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text, newline="")))


@pytest.fixture(scope="module")
def rows(table: list[list[str]]) -> list[dict[str, str]]:
    header, *body = table
    return [dict(zip(header, cells, strict=True)) for cells in body]


def _age(birth: str, today: dt.date = TODAY) -> int:
    born = dt.date.fromisoformat(birth)
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


def test_header_is_the_canonical_layout(table: list[list[str]]) -> None:
    assert tuple(table[0]) == JUKI_V1_COLUMNS
    assert all(len(cells) == len(JUKI_V1_COLUMNS) for cells in table)


def test_default_city_has_over_ten_thousand_residents(rows: list[dict[str, str]]) -> None:
    assert len(rows) >= 10_000
    assert sum(r["住民状態"] == "1" for r in rows) >= 10_000
    sizes: dict[str, int] = defaultdict(int)
    for row in rows:
        sizes[row["世帯番号"]] += 1
    assert set(sizes.values()) == {1, 2, 3, 4, 5, 6}


def test_utf8_without_bom_and_crlf_line_ends(data: bytes) -> None:
    assert not data.startswith(b"\xef\xbb\xbf")
    assert data.endswith(b"\r\n")
    assert data.count(b"\n") == data.count(b"\r\n")
    assert b"\r" not in data.replace(b"\r\n", b"")


def test_atena_and_setai_numbers_carry_check_digits(rows: list[dict[str, str]]) -> None:
    for row in rows:
        assert len(row["宛名番号"]) == 10 and is_valid(row["宛名番号"], ten="0"), row["宛名番号"]
        assert len(row["世帯番号"]) == 10 and is_valid(row["世帯番号"], ten="0"), row["世帯番号"]
        assert len(row["住民票コード"]) == 11 and row["住民票コード"].isdigit()
        assert len(row["郵便番号"]) == 7 and row["郵便番号"].isdigit()
        assert row["住所コード"].isdigit()


def test_numbers_are_unique(rows: list[dict[str, str]]) -> None:
    assert len({r["宛名番号"] for r in rows}) == len(rows)
    assert len({r["住民票コード"] for r in rows}) == len(rows)
    cards = [r["在留カード等番号"] for r in rows if r["在留カード等番号"]]
    assert len(set(cards)) == len(cards)


def test_codes_dates_and_required_values(rows: list[dict[str, str]]) -> None:
    for row in rows:
        for column in REQUIRED_COLUMNS:
            assert row[column], column
        for column, allowed in CODE_COLUMNS.items():
            assert row[column] == "" or row[column] in allowed, (column, row[column])
        for column in DATE_COLUMNS:
            if row[column]:
                assert dt.date.fromisoformat(row[column]).isoformat() == row[column]
        assert row["更新日時"].endswith("+09:00")
        assert dt.datetime.fromisoformat(row["更新日時"]).date() <= TODAY


def test_no_cell_starts_like_a_formula(table: list[list[str]]) -> None:
    assert not [cell for cells in table for cell in cells if cell[:1] in ("=", "+", "-", "@", "\t", "\r")]


def test_mj_variants_are_stored_exactly(data: bytes, text: str, rows: list[dict[str, str]]) -> None:
    assert IVS_KATSU in text
    assert "葛\U000e0102".encode() in data  # E8 91 9B F3 A0 84 82, byte-exact
    assert "辻\U000e0102" in text
    for char in ("\U00020bb7", "\ufa11", "髙", "\uf9dc", "邊", "齋", "濱"):
        assert char in text, f"U+{ord(char):04X}"
    with_variant = [r for r in rows if any(m in r["氏"] + r["名"] for m in MJ_MARKS)]
    assert 0.02 <= len(with_variant) / len(rows) <= 0.05


def test_demo_constants_name_the_ivs_and_kichi_people(rows: list[dict[str, str]]) -> None:
    by_atena = {r["宛名番号"]: r for r in rows}
    ivs = by_atena[DEMO_IVS_ATENA_NO]
    assert ivs["氏"].startswith(IVS_KATSU)
    assert ivs is rows[0] and ivs["続柄"] == "世帯主"
    assert ivs["世帯主氏名"] == f"{ivs['氏']}　{ivs['名']}"
    kichi = by_atena[DEMO_KICHI_ATENA_NO]
    assert kichi["氏"].startswith("\U00020bb7")
    assert kichi["世帯番号"] == ivs["世帯番号"]


def test_first_household_does_not_depend_on_the_seed(rows: list[dict[str, str]]) -> None:
    other = list(demo_city_rows(households=3, seed=7, today=TODAY))
    keys = ("宛名番号", "世帯番号", "氏", "名", "生年月日", "続柄", "住所")
    assert [[r[k] for k in keys] for r in other[:5]] == [[r[k] for k in keys] for r in rows[:5]]
    assert other[0]["宛名番号"] == DEMO_IVS_ATENA_NO and other[4]["宛名番号"] == DEMO_KICHI_ATENA_NO


def test_foreign_residents(rows: list[dict[str, str]]) -> None:
    foreign = [r for r in rows if r["住民種別"] == "2"]
    assert 0.03 <= len(foreign) / len(rows) <= 0.05
    for row in foreign:
        assert row["英字氏名"] and row["英字氏名"] == row["英字氏名"].upper()
        assert not row["本籍"] and not row["筆頭者"]
        assert row["国籍地域"] and row["在留資格"]
        card = row["在留カード等番号"]
        assert len(card) == 12 and card[:2].isalpha() and card[2:10].isdigit() and card[10:].isalpha()
        if row["在留期間"]:
            assert dt.date.fromisoformat(row["在留期間満了日"]) > TODAY
    assert any(r["英字氏名"].startswith("NGUYEN ") for r in foreign)
    assert any(r["国籍地域"] == "中国" and r["氏"] for r in foreign)  # 漢字 name kept for Chinese residents
    japanese = [r for r in rows if r["住民種別"] == "1"]
    assert all(r["本籍"] and r["筆頭者"] and not r["英字氏名"] for r in japanese)


def test_households_are_coherent(rows: list[dict[str, str]]) -> None:
    households: dict[str, list[dict[str, str]]] = defaultdict(list)
    for row in rows:
        households[row["世帯番号"]].append(row)
    for members in households.values():
        head = members[0]
        assert head["続柄"] == "世帯主"
        assert sum(m["続柄"] == "世帯主" for m in members) == 1
        head_name = f"{head['氏']}　{head['名']}" if head["氏"] else head["英字氏名"]
        parents = [m for m in members if m["続柄"] in ("世帯主", "妻", "夫")]
        for member in members:
            assert member["世帯主氏名"] == head_name
            assert (member["住所"], member["方書"], member["郵便番号"]) == (
                head["住所"],
                head["方書"],
                head["郵便番号"],
            )
            if member["続柄"] == "子":
                assert all(_age(p["生年月日"]) - _age(member["生年月日"]) >= 17 for p in parents)
            if member["続柄"] in ("父", "母"):
                assert _age(member["生年月日"]) - _age(head["生年月日"]) >= 17


def test_dates_are_in_order(rows: list[dict[str, str]]) -> None:
    for row in rows:
        birth, became, settled, event = (
            row["生年月日"], row["住民となった年月日"], row["住所を定めた年月日"], row["異動年月日"]
        )  # fmt: skip
        assert birth <= became <= settled <= event <= TODAY.isoformat(), row["宛名番号"]
        assert event <= row["更新日時"][:10]
        if row["住民種別"] == "2" and row["異動事由"] != "出生":
            assert became >= "2012-07-09"


def test_benefit_flags_follow_age(rows: list[dict[str, str]]) -> None:
    for row in rows:
        age, alive = _age(row["生年月日"]), row["住民状態"] == "1"
        assert (row["後期高齢"] == "1") == (alive and age >= 75)
        assert (row["介護保険"] == "1") == (alive and age >= 65)
        assert (row["児童手当"] == "1") == (alive and age < 15)
        assert not (row["国保"] == "1" and row["後期高齢"] == "1")
        if row["国民年金種別"]:
            assert 20 <= age <= 69
    assert {r["住民状態"] for r in rows} == {"1", "2", "3"}
    assert {"転入", "出生", "転居", "職権記載"} <= {r["異動事由"] for r in rows}


def test_same_seed_same_bytes_other_seed_other_bytes(data: bytes) -> None:
    assert demo_city_csv(today=TODAY) == data
    assert demo_city_csv(households=200, seed=1, today=TODAY) != demo_city_csv(
        households=200, seed=2, today=TODAY
    )


def test_the_same_people_whatever_the_day() -> None:
    a = list(demo_city_rows(households=300, today=TODAY))
    b = list(demo_city_rows(households=300, today=TODAY + dt.timedelta(days=400)))
    keys = ("宛名番号", "氏", "名", "英字氏名", "続柄", "住所")
    assert [[r[k] for k in keys] for r in a] == [[r[k] for k in keys] for r in b]
    assert a[0]["生年月日"] != b[0]["生年月日"]


def test_the_importer_accepts_the_file(data: bytes) -> None:
    assert len(parse_snapshot(data, source="demo_city.csv")) == data.count(b"\r\n") - 1


def test_households_must_be_positive() -> None:
    with pytest.raises(ValueError, match="households"):
        next(demo_city_rows(households=0))


def test_check_digits_follow_the_city_setting_for_a_result_of_ten() -> None:
    rows = list(demo_city_rows(households=300, today=dt.date(2026, 11, 21), ten="1"))
    tens = [r["宛名番号"] for r in rows if m11w27(r["宛名番号"][:-1], ten="X") == "X"]
    assert tens, "the sample should contain numbers whose check result is 10"
    assert all(number.endswith("1") for number in tens)
    assert all(is_valid(r["宛名番号"], ten="1") and is_valid(r["世帯番号"], ten="1") for r in rows)
