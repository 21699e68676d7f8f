"""Kana search keys (domain.md §5): katakana, full width, small kana made large, ー and spaces removed,
ヂ→ジ and ヅ→ズ. The result is a derived key; the stored フリガナ is never changed."""

import unicodedata

_HIRAGANA_TO_KATAKANA = str.maketrans(
    {chr(cp): chr(cp + 0x60) for cp in [*range(0x3041, 0x3097), 0x309D, 0x309E]}
)
# One table for the key: small kana made large, ヂ/ヅ folded, long-vowel marks, dashes, dots and spaces dropped.
_KEY_FOLD = str.maketrans(
    {**dict(zip("ァィゥェォッャュョヮヵヶヂヅ", "アイウエオツヤユヨワカケジズ", strict=True)),
     **dict.fromkeys("ー－-‐ 　・･")}
)  # fmt: skip


def hiragana_to_katakana(text: str) -> str:
    """Shift hiragana (ぁ..ゖ, ゝゞ) to katakana; everything else is kept."""
    return text.translate(_HIRAGANA_TO_KATAKANA)


def kana_search_key(text: str) -> str:
    """Fold kana text to the key used for search: ``ｻﾄｳ　ﾀﾛｳ``, ``さとう たろう`` and ``サトウ・タロウ`` all
    give ``サトウタロウ``; ``キョウコ`` gives ``キヨウコ``."""
    # NFKC only on the derived key: it turns half-width katakana into full width and joins dakuten.
    folded = unicodedata.normalize("NFKC", text)
    return folded.translate(_HIRAGANA_TO_KATAKANA).translate(_KEY_FOLD)
