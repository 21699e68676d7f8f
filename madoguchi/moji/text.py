"""Validation of MJ+ text as received (domain.md §3). Nothing here changes the text.

``text_problems`` is the structural check: code points that can never be MJ+ (controls, U+FFFD, BMP and Plane-15
private use, misplaced variation selectors). ``mj_problems`` adds the checks against the MJ repertoire (every
character and every (base, selector) pair must be in it) and the GJ range of Plane 16; ``mj_warnings`` flags what
is allowed but deserves a second look.
"""

import re
import unicodedata
from dataclasses import dataclass

from madoguchi.moji.repertoire import Repertoire, mj_repertoire

_SELECTORS = frozenset(chr(cp) for cp in (*range(0xFE00, 0xFE10), *range(0xE0100, 0xE01F0)))
GJ_FIRST = 0x100000
# GJ characters GJ00000001… sit at U+100000 + n − 1. MJ+ tables have had about 9,000–11,000 of them; the default
# allows the first 20,000 (GJ00000001…GJ00020000). A city sets the exact range of its table (MADOGUCHI_GJ_RANGE).
DEFAULT_GJ_RANGE = (GJ_FIRST, GJ_FIRST + 20_000 - 1)

# Every code point that may need a closer look: controls (Cc), surrogates, BMP private use, U+FFFD, variation
# selectors and planes 15-16. A value without any of them (almost every name and address) is accepted at C speed.
_SUSPECT = re.compile(
    "[\x00-\x1f\x7f-\x9f\ud800-\udfff\ue000-\uf8ff\ufe00-\ufe0f\ufffd\U000e0100-\U000e01ef\U000f0000-\U0010ffff]"
)
_NEWLINES = "\r\n\t"


@dataclass(frozen=True)
class TextProblem:
    """One problem in a text: the offending code point's index and a reason a clerk can read."""

    index: int
    reason: str


def is_variation_selector(char: str) -> bool:
    """True for a standardized (U+FE00…U+FE0F) or ideographic (U+E0100…U+E01EF) variation selector."""
    return char in _SELECTORS


def _structural_reason(char: str, allow_newlines: bool) -> str | None:
    """Why ``char`` (not a variation selector) can never be MJ+ text, or None."""
    cp = ord(char)
    if cp == 0xFFFD:
        return "replacement character U+FFFD (the text was damaged)"
    category = unicodedata.category(char)
    if category == "Cc" and not (allow_newlines and char in _NEWLINES):
        return f"control character U+{cp:04X}"
    if 0xE000 <= cp <= 0xF8FF:
        return f"private-use character U+{cp:04X} (old vendor 外字)"
    if 0xF0000 <= cp <= 0xFFFFD:
        return f"Plane-15 private-use character U+{cp:04X}"
    if category == "Cs":
        return f"lone surrogate U+{cp:04X}"
    return None


def text_problems(text: str, *, allow_newlines: bool = False) -> list[TextProblem]:
    """Every reason ``text`` cannot be MJ+ text, in order. An empty list means it is acceptable."""
    if _SUSPECT.search(text) is None:
        return []
    problems: list[TextProblem] = []
    previous_was_base = False
    for i, char in enumerate(text):
        if is_variation_selector(char):
            if not previous_was_base:
                reason = (
                    "doubled variation selector" if i > 0 else "variation selector without a base character"
                )
                problems.append(TextProblem(i, f"{reason} (U+{ord(char):04X})"))
            previous_was_base = False
            continue
        previous_was_base = True
        if (structural := _structural_reason(char, allow_newlines)) is not None:
            problems.append(TextProblem(i, structural))
    return problems


def _configured_gj_range() -> tuple[int, int]:
    from django.conf import settings

    first, last = getattr(settings, "MADOGUCHI_GJ_RANGE", DEFAULT_GJ_RANGE)
    return int(first), int(last)


def _sequence_reason(base: str, vs: int) -> str:
    shown = base if unicodedata.category(base) != "Co" else f"U+{ord(base):04X}"
    if vs >= 0xE0100:
        return (
            f"{shown}+U+{vs:04X} is not a Moji_Joho sequence of the MJ repertoire "
            "(an Adobe-Japan1 or other IVD collection's sequence?)"
        )
    return f"{shown}+U+{vs:04X} is not a variation sequence of the MJ repertoire"


def _character_reason(char: str) -> str:
    name = unicodedata.name(char, "")
    return f"{char} U+{ord(char):04X}{f' ({name})' if name else ''} is not a character of the MJ repertoire"


def mj_problems(
    text: str,
    *,
    repertoire: Repertoire | None = None,
    gj_range: tuple[int, int] | None = None,
    allow_newlines: bool = False,
) -> list[TextProblem]:
    """Every reason ``text`` is not MJ+ text (domain.md §3), in order; an empty list means it is acceptable.

    Rejects what ``text_problems`` rejects, and also: a character outside the MJ ``repertoire`` (default: the
    generated IPAmj明朝 repertoire, ``mj_repertoire()``), a (base, selector) pair that is not one of its sequences
    (e.g. Adobe-Japan1's 葛+U+E0100), and a Plane-16 code point outside ``gj_range`` — inclusive first and last
    code points of the GJ characters of the MJ+ table in use; when not given, the setting ``MADOGUCHI_GJ_RANGE``
    (default ``DEFAULT_GJ_RANGE``, GJ00000001…GJ00020000). With ``allow_newlines``, CR, LF and TAB are accepted.
    """
    rep = repertoire if repertoire is not None else mj_repertoire()
    if rep.outside_bmp_repertoire.search(text) is None:
        return []
    problems: list[TextProblem] = []
    # What came before the current character: "start", "base", "selector", "rejected" or "newline".
    previous = "start"
    base = ""
    for i, char in enumerate(text):
        cp = ord(char)
        if rep.has_base(cp):
            previous, base = "base", char
            continue
        reason: str | None
        if char in _SELECTORS:
            if previous == "base":
                reason = None if rep.has_sequence(ord(base), cp) else _sequence_reason(base, cp)
            elif previous == "selector":
                reason = f"doubled variation selector (U+{cp:04X})"
            elif previous == "rejected":
                reason = None  # its base is reported already
            else:
                reason = f"variation selector without a base character (U+{cp:04X})"
            previous = "selector"
            if reason is not None:
                problems.append(TextProblem(i, reason))
            continue
        reason = _structural_reason(char, allow_newlines)
        if reason is None and cp >= GJ_FIRST:
            if gj_range is None:
                gj_range = _configured_gj_range()
            if gj_range[0] <= cp <= gj_range[1]:
                previous, base = "base", char
                continue
            reason = (
                f"Plane-16 code point U+{cp:04X} is outside the GJ range U+{gj_range[0]:04X}–"
                f"U+{gj_range[1]:04X} of the MJ+ table in use"
            )
        elif reason is None and char in _NEWLINES:
            previous = "newline"
            continue
        problems.append(TextProblem(i, reason or _character_reason(char)))
        previous = "rejected"
    return problems


# CJK compatibility ideographs proper: those with a canonical (singleton) decomposition, which NFC and NFKC
# replace. Twelve code points of the block (﨎﨏﨑﨓﨔﨟﨡﨣﨤﨧﨨﨩) are unified ideographs and are left alone.
_COMPATIBILITY_IDEOGRAPHS = frozenset(
    chr(cp)
    for first, last in ((0xF900, 0xFAFF), (0x2F800, 0x2FA1F))
    for cp in range(first, last + 1)
    if unicodedata.decomposition(chr(cp)) and not unicodedata.decomposition(chr(cp)).startswith("<")
)
# Pairs that CP932 conversions swap silently (domain.md §3).
_LOOKALIKES = (("\u301c", "\uff5e"), ("\u2212", "\uff0d"))
_WARNING_SCAN = re.compile("[\uf900-\ufaff\u301c\uff5e\u2212\uff0d\U0002f800-\U0002fa1f]")


def mj_warnings(text: str) -> list[TextProblem]:
    """What is valid MJ+ but worth a second look, in order: CJK compatibility ideographs (any normalisation
    turns them into a different glyph) and mixed 〜/～ or −/－ in one text."""
    if _WARNING_SCAN.search(text) is None:
        return []
    warnings: list[TextProblem] = []
    for i, char in enumerate(text):
        if char in _COMPATIBILITY_IDEOGRAPHS:
            unified = unicodedata.normalize("NFC", char)
            warnings.append(
                TextProblem(
                    i,
                    f"{char} U+{ord(char):04X} is a CJK compatibility ideograph: normalising software turns it "
                    f"into {unified} U+{ord(unified):04X}; keep it only if the record really has this glyph",
                )
            )
    for one, other in _LOOKALIKES:
        if one in text and other in text:
            i = max(text.index(one), text.index(other))
            warnings.append(
                TextProblem(
                    i,
                    f"both {one} U+{ord(one):04X} ({unicodedata.name(one)}) and {other} U+{ord(other):04X} "
                    f"({unicodedata.name(other)}) are used; CP932 conversions swap them, check which one is meant",
                )
            )
    return sorted(warnings, key=lambda warning: warning.index)
