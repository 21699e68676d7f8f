"""Validation of MJ+ text as received (domain.md §3). Nothing here changes the text.

This is the structural check: code points that can never be MJ+ (controls, U+FFFD, BMP and Plane-15 private use,
misplaced variation selectors). The check of (base, selector) pairs against the MJ repertoire builds on it.
"""

import re
import unicodedata
from dataclasses import dataclass

_VS_RANGES = ((0xFE00, 0xFE0F), (0xE0100, 0xE01EF))
GJ_FIRST = 0x100000

# Every code point that may need a closer look: controls (Cc), surrogates, BMP private use, U+FFFD, variation
# selectors and planes 15-16. A value without any of them (almost every name and address) is accepted at C speed.
_SUSPECT = re.compile(
    "[\x00-\x1f\x7f-\x9f\ud800-\udfff\ue000-\uf8ff\ufe00-\ufe0f\ufffd\U000e0100-\U000e01ef\U000f0000-\U0010ffff]"
)


@dataclass(frozen=True)
class TextProblem:
    """One problem in a text: the offending code point's index and a reason a clerk can read."""

    index: int
    reason: str


def is_variation_selector(char: str) -> bool:
    cp = ord(char)
    return any(lo <= cp <= hi for lo, hi in _VS_RANGES)


def text_problems(text: str, *, allow_newlines: bool = False) -> list[TextProblem]:
    """Every reason ``text`` cannot be MJ+ text, in order. An empty list means it is acceptable."""
    if _SUSPECT.search(text) is None:
        return []
    problems: list[TextProblem] = []
    previous_was_base = False
    for i, char in enumerate(text):
        cp = ord(char)
        label = f"U+{cp:04X}"
        if is_variation_selector(char):
            if not previous_was_base:
                reason = (
                    "doubled variation selector" if i > 0 else "variation selector without a base character"
                )
                problems.append(TextProblem(i, f"{reason} ({label})"))
            previous_was_base = False
            continue
        previous_was_base = True
        if cp == 0xFFFD:
            problems.append(TextProblem(i, "replacement character U+FFFD (the text was damaged)"))
        elif unicodedata.category(char) == "Cc" and not (allow_newlines and char in "\r\n\t"):
            problems.append(TextProblem(i, f"control character {label}"))
        elif 0xE000 <= cp <= 0xF8FF:
            problems.append(TextProblem(i, f"private-use character {label} (old vendor 外字)"))
        elif 0xF0000 <= cp <= 0xFFFFD:
            problems.append(TextProblem(i, f"Plane-15 private-use character {label}"))
        elif unicodedata.category(char) == "Cs":
            problems.append(TextProblem(i, f"lone surrogate {label}"))
    return problems
