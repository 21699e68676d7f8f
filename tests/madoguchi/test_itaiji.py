import unicodedata
from pathlib import Path

import pytest

from madoguchi.moji.itaiji import kanji_search_key, load_fold_table
from madoguchi.moji.repertoire import Repertoire


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("髙橋", "高橋"),
        ("山﨑", "山崎"),
        ("山嵜", "山崎"),
        ("渡邊", "渡辺"),
        ("渡邉", "渡辺"),
        ("齋藤", "斎藤"),
        ("齊藤", "斎藤"),
        ("斉藤", "斎藤"),
        ("濱田", "浜田"),
        ("澤田", "沢田"),
        ("廣瀬", "広瀬"),
        ("國男", "国男"),
        ("櫻井", "桜井"),
        ("藏本", "蔵本"),
        ("德永", "徳永"),
        ("惠子", "恵子"),
        ("森鷗外", "森鴎外"),
        ("葛\U000e0102西", "葛西"),
        ("辻\ufe00", "辻"),
        ("山\ufa11", "山崎"),  # U+FA11 﨑 is a unified ideograph: the table folds it
        ("\uf9dc之", "隆之"),  # U+F9DC: NFKC folds the compatibility ideograph
        ("𠮷田", "吉田"),
        ("山田　太郎", "山田太郎"),
        (" 山田 太郎 ", "山田太郎"),
        ("佐々木", "佐佐木"),
        ("窓口市霞ヶ関１－２－３", "窓口市霞ケ関1-2-3"),
        ("1−2‐3―4", "1-2-3-4"),
        ("ＭＡＤＯ１０１号", "MADO101号"),
        ("ﾒｿﾞﾝ", "メゾン"),
        ("", ""),
    ],
)
def test_kanji_search_key(text: str, key: str) -> None:
    assert kanji_search_key(text) == key


def test_old_and_new_forms_meet() -> None:
    assert kanji_search_key("髙橋　德太郎") == kanji_search_key("高橋徳太郎")
    assert kanji_search_key("窓口市櫻丘一丁目") == kanji_search_key("窓口市桜丘一丁目")


def test_a_key_is_its_own_key() -> None:
    for text in ("渡邊 邦子", "か゛", "佐々木", "﨑\U000e0102", "々"):
        key = kanji_search_key(text)
        assert kanji_search_key(key) == key


class TestTable:
    def test_size_and_shape(self) -> None:
        folds = load_fold_table()
        assert len(folds) >= 300
        for variant, key in folds.items():
            assert unicodedata.normalize("NFKC", variant) == variant
            assert unicodedata.normalize("NFKC", key) == key
            assert key not in folds

    def test_every_kanji_is_an_mj_character(self, mj: Repertoire) -> None:
        kanji = [
            c for pair in load_fold_table().items() for c in pair if unicodedata.name(c).startswith("CJK")
        ]
        assert len(kanji) > 600
        assert [c for c in kanji if not mj.has_base(ord(c))] == []

    def test_a_variant_listed_twice_is_refused(self, tmp_path: Path) -> None:
        path = tmp_path / "t.txt"
        path.write_text("# test\n辺 邊\n边 邊\n", encoding="utf-8")
        with pytest.raises(ValueError, match="listed twice"):
            load_fold_table(path)
        path.write_text("辺 邊\n邊 邉\n", encoding="utf-8")
        with pytest.raises(ValueError, match="both keys and variants"):
            load_fold_table(path)
