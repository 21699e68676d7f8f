"""The four outbound layouts the standard specification (住民記録システム標準仕様書) requires a resident-record
system to ingest (domain.md §4): 住民異動届, 住民票の写し等交付申請書, 転出証明書 data and 個人番号カード券面事項.

Each layout is written from the filled context of one form (or, for the card face, from the card read): one row,
or one row per entry of a list (``each``: one row per 異動者), where the entry is bound as ``item``. ``when`` limits
a layout to the filled forms where a binding has one of the given values (転出証明書 data: 異動事由 転出). Columns
use the forms engine's binding language. A column in ``secret`` holds the individual number: whoever stores the
row must store that value only encrypted.

A change to a layout's columns is a new ``version``; it travels with every row (``layout``), and rows of two
versions never share a file.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .bindings import binding_parse, binding_text, binding_value

CARD_SOURCE = "card"


@dataclass(frozen=True)
class StandardLayout:
    kind: str
    name: str
    version: int
    source: str  # the form code whose filled context it reads, or CARD_SOURCE
    columns: tuple[tuple[str, str], ...]  # (header, binding)
    each: str = ""
    when: tuple[str, frozenset[str]] | None = None
    secret: frozenset[str] = field(default_factory=frozenset)

    @property
    def layout(self) -> str:
        return f"{self.kind}@{self.version}"

    @property
    def header(self) -> list[str]:
        return [header for header, _ in self.columns]

    def applies(self, context: Mapping[str, Any]) -> bool:
        if self.when is None:
            return True
        binding, values = self.when
        return str(binding_value(binding_parse(binding), context) or "") in values

    def rows(self, context: Mapping[str, Any]) -> list[list[str]]:
        """The rows for one filled context (none when ``when`` does not hold or ``each`` is empty)."""
        if not self.applies(context):
            return []
        contexts: Sequence[Mapping[str, Any]] = [context]
        if self.each:
            items = binding_value(binding_parse(self.each), context) or []
            contexts = [{**context, "item": item} for item in items if isinstance(item, Mapping)]
        parsed = [binding_parse(binding) for _, binding in self.columns]
        return [[binding_text(binding, ctx) for binding in parsed] for ctx in contexts]


_IDO_COMMON = (
    ("受付番号", "session.reception_no"),
    ("届出日", "fields.todokede_bi|iso"),
    ("異動事由", "fields.ido_jiyu"),
    ("異動日", "fields.ido_bi|iso"),
    ("世帯番号", "resident.setai_no"),
    ("届出人氏名", "fields.todokedenin_shimei"),
    ("届出人との関係", "fields.todokedenin_kankei"),
)
_PERSON = (
    ("氏名", "item.shimei"),
    ("フリガナ", "item.kana"),
    ("生年月日", "item.birth_date|iso"),
    ("性別", "item.sex"),
    ("続柄", "item.zokugara"),
)

STANDARD_LAYOUTS: tuple[StandardLayout, ...] = (
    StandardLayout(
        kind="std_jumin_ido",
        name="住民異動届",
        version=1,
        source="juminido",
        each="fields.idousha",
        columns=(
            *_IDO_COMMON,
            *_PERSON,
            ("郵便番号", "fields.shin_yubin"),
            ("住所", "fields.shin_jusho"),
            ("方書", "fields.shin_katagaki"),
            ("旧住所", "fields.kyu_jusho"),
            ("世帯主氏名", "fields.shin_setainushi"),
            ("本籍", "fields.honseki"),
            ("筆頭者", "fields.hittousha"),
        ),
    ),
    StandardLayout(
        kind="std_juminhyo_kofu",
        name="住民票の写し等交付申請書",
        version=1,
        source="juminhyo_seikyu",
        columns=(
            ("受付番号", "session.reception_no"),
            ("請求日", "fields.seikyu_bi|iso"),
            ("証明書の種類", "fields.shurui"),
            ("通数", "fields.tsusu"),
            ("世帯全員・一部", "fields.setai_hani"),
            ("世帯主・続柄の記載", "fields.kisai_setainushi"),
            ("本籍・筆頭者の記載", "fields.kisai_honseki"),
            ("個人番号の記載", "fields.kisai_kojin_bango"),
            ("住民票コードの記載", "fields.kisai_jumin_code"),
            ("宛名番号", "resident.atena_no"),
            ("世帯番号", "resident.setai_no"),
            ("対象者氏名", "fields.taishosha_shimei"),
            ("対象者フリガナ", "fields.taishosha_kana"),
            ("対象者生年月日", "fields.taishosha_birth_date|iso"),
            ("対象者住所", "fields.taishosha_jusho"),
            ("対象者方書", "fields.katagaki"),
            ("必要な方", "fields.hitsuyo_na_kata|join('、', 'shimei')"),
            ("使用目的", "fields.shiyo_mokuteki"),
            ("提出先", "fields.teishutsu_saki"),
            ("請求者氏名", "fields.seikyusha_shimei"),
            ("請求者フリガナ", "fields.seikyusha_kana"),
            ("請求者住所", "fields.seikyusha_jusho"),
            ("請求者と対象者の関係", "fields.seikyusha_kankei"),
        ),
    ),
    StandardLayout(
        kind="std_tenshutsu_shomei",
        name="転出証明書データ",
        version=1,
        source="juminido",
        each="fields.idousha",
        when=("fields.ido_jiyu", frozenset({"転出"})),
        columns=(
            ("受付番号", "session.reception_no"),
            ("宛名番号", "resident.atena_no"),
            ("世帯番号", "resident.setai_no"),
            *_PERSON,
            ("世帯主氏名", "resident.setainushi_shimei"),
            ("住所", "fields.kyu_jusho"),
            ("方書", "resident.katagaki"),
            ("転出先住所", "fields.shin_jusho"),
            ("転出先方書", "fields.shin_katagaki"),
            ("転出予定日", "fields.ido_bi|iso"),
            ("本籍", "fields.honseki"),
            ("筆頭者", "fields.hittousha"),
        ),
    ),
    StandardLayout(
        kind="std_kojin_bango_card",
        name="個人番号カード券面事項",
        version=1,
        source=CARD_SOURCE,
        when=("card.kind", frozenset({"mynumber", "mynumber_b"})),
        columns=(
            ("受付番号", "session.reception_no"),
            ("宛名番号", "resident.atena_no"),
            ("読取日時", "card.read_at"),
            ("氏名", "card.shimei"),
            ("住所", "card.address"),
            ("生年月日", "card.birth_date"),
            ("性別", "card.sex"),
            ("個人番号", "card.individual_number"),
        ),
        secret=frozenset({"個人番号"}),
    ),
)


def standard_layouts_for(source: str) -> list[StandardLayout]:
    """The standard layouts written from ``source`` (a form code, or CARD_SOURCE)."""
    return [layout for layout in STANDARD_LAYOUTS if layout.source == source]
