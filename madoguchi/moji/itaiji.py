"""Kanji search keys (domain.md §5): 異体字 folded so that 髙橋 finds 高橋 and 渡邊 finds 渡辺.

The key is derived text for search only; the stored name or address is never changed. The fold table is the
committed, readable ``itaiji.txt`` beside this module (key character, then its variants, one line per key).
"""

import unicodedata
from pathlib import Path

TABLE_PATH = Path(__file__).with_name("itaiji.txt")


def load_fold_table(path: Path = TABLE_PATH) -> dict[str, str]:
    """The 異体字 table as variant → key. ValueError when a character is both a key and a variant, or is listed
    twice, since folding must take one step."""
    folds: dict[str, str] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line or line.startswith("#"):
            continue
        key, *variants = line.split(" ")
        for variant in variants:
            if variant in folds or len(variant) != 1:
                raise ValueError(f"{path}:{number}: {variant!r} is listed twice or is not one character")
            folds[variant] = key
    if clash := set(folds) & set(folds.values()):
        raise ValueError(f"{path}: {''.join(sorted(clash))} are both keys and variants")
    return folds


def _translation() -> dict[int, str | None]:
    table: dict[int, str | None] = {ord(variant): key for variant, key in load_fold_table().items()}
    # Variation selectors go (葛+U+E0102 → 葛), and every space: NFKC has made U+3000 an ASCII space already.
    for first, last in ((0xFE00, 0xFE0F), (0xE0100, 0xE01EF)):
        table.update(dict.fromkeys(range(first, last + 1)))
    table.update(dict.fromkeys(cp for cp in range(0x3001) if chr(cp).isspace()))
    return table


_FOLD = _translation()


def _repeat_iteration_marks(key: str) -> str:
    chars = list(key)
    for i in range(1, len(chars)):
        if chars[i] in "々〻":
            chars[i] = chars[i - 1]
    return "".join(chars)


def kanji_search_key(text: str) -> str:
    """Fold names and addresses to the key used for search: 異体字 to one form (髙橋 → 高橋, 渡邊 → 渡辺,
    𠮷田 → 吉田), variation selectors dropped (葛+U+E0102 → 葛), CJK compatibility ideographs to their unified
    form and full-width letters and digits to ASCII (NFKC), spaces removed, 々 written out (佐々木 → 佐佐木),
    ヶ → ケ, dashes to ``-`` and 〜 to ``~``."""
    # NFKC is acceptable here only because the result is a derived key (domain.md §3).
    normalized = unicodedata.normalize("NFKC", text)
    key = normalized.translate(_FOLD)
    if len(key) != len(normalized):
        # A dropped space or selector can let a base and a combining mark compose: NFKC makes ゛ a space and
        # U+3099, so か゛ gives が once the space is gone.
        key = unicodedata.normalize("NFKC", key)
    if "々" in key or "〻" in key:
        key = _repeat_iteration_marks(key)
    return key
