"""Degrading MJ+ text for a destination that can only take JIS X 0213 (domain.md §4).

The stored value is never changed: the degraded text goes into a separate column, and every substitution is
reported. A character is substituted, in this order, by dropping a variation selector (葛 + U+E0102 → 葛, the
base character is the same glyph family), or by its 異体字 key from the fold table (髙 → 高, 𠮷 → 吉). A character
with neither has no substitute and the value is refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from .itaiji import load_fold_table
from .text import is_variation_selector


class NoSubstitute(ValueError):
    """A character outside JIS X 0213 with no substitute in it."""


@dataclass(frozen=True)
class Substitution:
    original: str  # the character as stored, with its variation selector if it had one
    substitute: str  # the character written in the degraded column

    @property
    def codepoints(self) -> str:
        return " ".join(f"U+{ord(c):04X}" for c in self.original)


def in_jisx0213(text: str) -> bool:
    """True when every character of ``text`` is in JIS X 0213:2004 (Python's shift_jis_2004 codec)."""
    try:
        text.encode("shift_jis_2004")
    except UnicodeEncodeError:
        return False
    return True


@lru_cache(maxsize=1)
def _folds() -> dict[str, str]:
    return load_fold_table()


def _one(char: str) -> str | None:
    if in_jisx0213(char):
        return char
    folded = _folds().get(char)
    if folded is not None and in_jisx0213(folded):
        return folded
    return None


def degrade_to_jisx0213(text: str) -> tuple[str, list[Substitution]]:
    """``text`` with every character outside JIS X 0213 substituted, and the substitutions made.

    Raises NoSubstitute naming the character and its position when one has no substitute.
    """
    if in_jisx0213(text):
        return text, []
    out: list[str] = []
    substitutions: list[Substitution] = []
    chars = list(text)
    index = 0
    while index < len(chars):
        char = chars[index]
        selector = (
            chars[index + 1] if index + 1 < len(chars) and is_variation_selector(chars[index + 1]) else ""
        )
        if is_variation_selector(char):
            # A selector with no base before it (the base was consumed above, so this one stands alone).
            raise NoSubstitute(f"character {index + 1}: a lone variation selector U+{ord(char):04X}")
        pair = char + chars[index + 1] if index + 1 < len(chars) else ""
        if pair and not selector and in_jisx0213(pair):
            # JIS X 0213 has some characters only as a sequence with a combining mark (か + U+309A, か゚).
            out.append(pair)
            index += 2
            continue
        substitute = _one(char)
        if substitute is None:
            raise NoSubstitute(
                f"character {index + 1}: {char} (U+{ord(char):04X}) is not in JIS X 0213 and has no substitute"
            )
        if selector or substitute != char:
            substitutions.append(Substitution(original=char + selector, substitute=substitute))
        out.append(substitute)
        index += 2 if selector else 1
    return "".join(out), substitutions
