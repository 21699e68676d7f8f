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

# Where each canonical column lands on integrations.models.Resident.
TEXT_FIELDS: Final[dict[str, str]] = {
    "住民票コード": "juminhyo_code", "住民種別": "juumin_shubetsu", "住民状態": "juumin_jotai", "氏": "shi",
    "名": "mei", "氏カナ": "shi_kana", "名カナ": "mei_kana", "英字氏名": "eiji_shimei", "旧氏": "kyuuji",
    "旧氏カナ": "kyuuji_kana", "通称": "tsuushou", "通称カナ": "tsuushou_kana", "性別": "sex",
    "続柄": "zokugara", "世帯主氏名": "setainushi_shimei", "郵便番号": "postal_code", "住所": "address",
    "方書": "katagaki", "住所コード": "address_code", "転入前住所": "previous_address", "本籍": "honseki",
    "筆頭者": "hittousha", "国籍地域": "nationality", "在留資格": "zairyuu_shikaku", "在留期間": "zairyuu_kikan",
    "在留カード等番号": "zairyuu_card_no", "国民年金種別": "nenkin_shubetsu", "異動事由": "idou_jiyuu",
    "更新日時": "updated_at_source",
}  # fmt: skip
DATE_FIELDS: Final[dict[str, str]] = {
    "生年月日": "birth_date", "住民となった年月日": "became_resident_on", "住所を定めた年月日": "address_set_on",
    "在留期間満了日": "zairyuu_expires_on", "異動年月日": "idou_date",
}  # fmt: skip
FLAG_FIELDS: Final[dict[str, str]] = {
    "国保": "kokuho",
    "後期高齢": "kouki_koureisha",
    "介護保険": "kaigo_hoken",
    "児童手当": "jidou_teate",
}
