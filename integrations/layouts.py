"""Inbound file layouts. ``住民記録 v1`` is the canonical one (domain.md §1); vendor layouts map onto it."""

from typing import Final

JUKI_V1_COLUMNS: Final[tuple[str, ...]] = (
    "宛名番号", "世帯番号", "住民票コード", "住民種別", "住民状態", "氏", "名", "氏カナ", "名カナ", "英字氏名",
    "旧氏", "旧氏カナ", "通称", "通称カナ", "生年月日", "性別", "続柄", "世帯主氏名", "郵便番号", "住所", "方書",
    "住所コード", "住民となった年月日", "住所を定めた年月日", "転入前住所", "本籍", "筆頭者", "国籍地域",
    "在留資格", "在留期間", "在留期間満了日", "在留カード等番号", "国保", "後期高齢", "介護保険", "国民年金種別",
    "児童手当", "異動事由", "異動年月日", "更新日時",
)  # fmt: skip
"""The header of a 住民記録 v1 full snapshot, in order."""

JUKI_V1_DIFF_COLUMNS: Final[tuple[str, ...]] = ("処理区分", *JUKI_V1_COLUMNS)
"""A difference file has ``処理区分`` (1 追加, 2 変更, 3 消除) first."""

DATE_COLUMNS: Final = frozenset(
    {"生年月日", "住民となった年月日", "住所を定めた年月日", "在留期間満了日", "異動年月日"}
)
CODE_COLUMNS: Final[dict[str, frozenset[str]]] = {
    "住民種別": frozenset({"1", "2"}),
    "住民状態": frozenset({"1", "2", "3", "9"}),
    "性別": frozenset({"1", "2"}),
    "国保": frozenset({"0", "1"}),
    "後期高齢": frozenset({"0", "1"}),
    "介護保険": frozenset({"0", "1"}),
    "児童手当": frozenset({"0", "1"}),
    "国民年金種別": frozenset({"1", "2", "3"}),
}
REQUIRED_COLUMNS: Final = frozenset(
    {"宛名番号", "世帯番号", "住民種別", "住民状態", "生年月日", "性別", "住所"}
)
MJ_TEXT_COLUMNS: Final = frozenset(
    {"氏", "名", "旧氏", "通称", "世帯主氏名", "住所", "方書", "転入前住所", "本籍", "筆頭者"}
)
