"""M11W2-7 check digits of 宛名番号 and 世帯番号 (domain.md §1)."""

from operator import mul

from django.conf import settings

# Weights from the rightmost data digit: 2, 3, 4, 5, 6, 7, 2, 3, … (long enough for any 宛名番号).
_WEIGHTS = tuple(2 + i % 6 for i in range(64))


def m11w27(data_digits: str, *, ten: str | None = None) -> str:
    """Return the check digit for ``data_digits`` (weights 2..7 from the rightmost digit, modulus 11).

    11 − (Σ digit × weight mod 11); 11 becomes "0"; what 10 becomes is a per-city setting
    (``MADOGUCHI_CHECK_DIGIT_TEN``, default "0").
    """
    if not data_digits.isascii() or not data_digits.isdigit():
        raise ValueError("check digits are computed over ASCII digits only")
    total = sum(map(mul, _WEIGHTS, map(int, reversed(data_digits))))
    result = 11 - total % 11
    if result == 11:
        return "0"
    if result == 10:
        return ten if ten is not None else settings.MADOGUCHI_CHECK_DIGIT_TEN
    return str(result)


def with_check_digit(data_digits: str, *, ten: str | None = None) -> str:
    """``data_digits`` followed by its check digit."""
    return data_digits + m11w27(data_digits, ten=ten)


def is_valid(number: str, *, ten: str | None = None) -> bool:
    """True when ``number`` is ASCII digits whose last digit is the M11W2-7 check digit of the rest."""
    if len(number) < 2 or not number.isascii() or not number.isdigit():
        return False
    return m11w27(number[:-1], ten=ten) == number[-1]
