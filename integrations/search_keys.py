"""The derived search keys of a resident, in one place: the importer stores them, the search queries them.
Keys are folded (madoguchi.moji); the stored names and addresses never are."""

from madoguchi.moji.itaiji import kanji_search_key
from madoguchi.moji.kana import kana_search_key


def kana_key(text: str) -> str:
    """フリガナ folded: width, hiragana/katakana, small kana, ー, ヂ/ヅ and spaces."""
    return kana_search_key(text)


def name_key(text: str) -> str:
    """A name folded: 異体字 (髙→高), variation selectors, width, spaces; Latin letters upper-cased."""
    return kanji_search_key(text).upper()


def address_key(text: str) -> str:
    """An address folded like a name, for fragment search."""
    return kanji_search_key(text).upper()
