"""Kana search keys (domain.md §5): katakana, full width, small kana made large, ー and spaces removed,
ヂ→ジ and ヅ→ズ. The result is a derived key; the stored フリガナ is never changed."""

import unicodedata

_SMALL_TO_LARGE = str.maketrans("ァィゥェォッャュョヮヵヶ", "アイウエオツヤユヨワカケ")
_VOICED_FOLD = str.maketrans({"ヂ": "ジ", "ヅ": "ズ"})
_DROP = {"ー", "－", "-", "‐", " ", "　", "・", "･"}


def hiragana_to_katakana(text: str) -> str:
    """Shift hiragana (ぁ..ゖ, ゝゞ) to katakana; everything else is kept."""
    return "".join(chr(ord(c) + 0x60) if "ぁ" <= c <= "ゖ" or c in "ゝゞ" else c for c in text)


def kana_search_key(text: str) -> str:
    """Fold kana text to the key used for search: ``ｻﾄｳ　ﾀﾛｳ``, ``さとう たろう`` and ``サトウ・タロウ`` all
    give ``サトウタロウ``; ``キョウコ`` gives ``キヨウコ``."""
    # NFKC only on the derived key: it turns half-width katakana into full width and joins dakuten.
    folded = unicodedata.normalize("NFKC", text)
    folded = hiragana_to_katakana(folded)
    folded = folded.translate(_SMALL_TO_LARGE).translate(_VOICED_FOLD)
    return "".join(c for c in folded if c not in _DROP)
