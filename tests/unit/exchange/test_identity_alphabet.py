"""Identity numbers use ASCII digits and the check character X only (GM 18 ¶2; the
GB 11643, GB 32100 and GS 15 alphabets), whatever Unicode a producer sends.

Issue 14 found ``"11010580010100\\u19da"`` (NEW TAI LUE THAM DIGIT ONE): ``str.isdigit``
accepted it, python-stdnum's ``int()`` raised ``ValueError`` and killed the processor. The
properties below hold for arbitrary text: the validators return a result or raise the
project's own :class:`IdentityKeyError`, and nothing outside the alphabets (after folding
full-width forms) is ever valid.
"""

from __future__ import annotations

import unicodedata
from datetime import date

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from base.errors import GovbusError, IdentityKeyError
from exchange.identity import IdentityKind, check, clean, parse

TODAY = date(2025, 6, 1)
KINDS = [None, *IdentityKind]
VALID = {
    IdentityKind.RESIDENT_ID: "11010519491231002X",
    IdentityKind.CREDIT_CODE: "91110000600037341L",
}
ASCII_ALNUM = frozenset("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
FULL_WIDTH = frozenset(chr(ord(c) + 0xFEE0) for c in ASCII_ALNUM)

#: Every code point, surrogates and unassigned ones included.
any_char = st.characters(codec=None, exclude_categories=())
any_text = st.text(any_char, max_size=40)
#: Digits of other scripts and digit-like characters that ``str.isdigit`` accepts.
other_digits = st.characters(codec=None, categories=("Nd", "No", "Nl")).filter(
    lambda c: c not in "0123456789" and c not in FULL_WIDTH
)


def _outcome(number: str, kind: IdentityKind | None) -> None:
    """check() never raises; parse() raises only IdentityKeyError, and agrees with check()."""
    result = check(number, kind, today=TODAY)
    try:
        key = parse(number, kind, today=TODAY)
    except IdentityKeyError as exc:
        assert not result.valid
        assert exc.code == (result.reason.value if result.reason else "ambiguous")
        assert exc.article == "GM 18"
        return
    assert result.valid and key.normalized == result.normalized and key.kind is result.kind
    # A valid number is ASCII of its standard's alphabet after folding.
    assert result.normalized.isascii() and result.normalized.isalnum()
    assert all(
        c in ASCII_ALNUM or c in FULL_WIDTH or c.isspace() or c in "-\uff0d" for c in number
    ), number


@settings(max_examples=1500, deadline=None)
@given(number=any_text, kind=st.sampled_from(KINDS))
@example(number="11010580010100\u19da", kind=None)
@example(number="11010580010100\u19da", kind=IdentityKind.RESIDENT_ID)
@example(number="1101058001010\u0661\u0662", kind=IdentityKind.RESIDENT_ID)
@example(number="\ud800" * 18, kind=None)
def test_arbitrary_text_gives_a_result_or_an_identity_key_error(
    number: str, kind: IdentityKind | None
) -> None:
    _outcome(number, kind)


@settings(max_examples=600, deadline=None)
@given(
    kind=st.sampled_from(sorted(VALID)),
    index=st.integers(0, 17),
    digit=other_digits,
)
def test_another_scripts_digit_in_a_valid_number_is_refused_as_characters(
    kind: IdentityKind, index: int, digit: str
) -> None:
    """'٣', '᧚', '²', '①' are digits to Python but not to GB 11643 / GB 32100."""
    number = VALID[kind]
    changed = number[:index] + digit + number[index + 1 :]
    for asked in (None, kind):
        result = check(changed, asked, today=TODAY)
        assert not result.valid
        if asked is not None:
            assert result.reason is not None and result.reason.value == "characters"
        _outcome(changed, asked)


@settings(max_examples=300, deadline=None)
@given(prefix=st.integers(0, 17), digit=other_digits)
def test_a_fifteen_digit_legacy_id_with_another_scripts_digit_is_not_converted(
    prefix: int, digit: str
) -> None:
    """The legacy conversion (insert 19, add the check digit) runs on ASCII digits only."""
    legacy = "110105491231002"
    changed = legacy[: prefix % 15] + digit + legacy[prefix % 15 + 1 :]
    result = check(changed, IdentityKind.RESIDENT_ID, today=TODAY)
    assert (result.valid, result.normalized) == (False, clean(changed))


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("１１０１０５１９４９１２３１００２ｘ", IdentityKind.RESIDENT_ID),  # full-width: folded
        ("９１１１００００６０００３７３４１Ｌ", IdentityKind.CREDIT_CODE),
        ("110105-19491231-002x", IdentityKind.RESIDENT_ID),
    ],
)
def test_full_width_forms_are_folded(text: str, kind: IdentityKind) -> None:
    assert parse(text, kind, today=TODAY).normalized == VALID[kind]


@pytest.mark.parametrize(
    "text",
    [
        "91110000600037341\u24c1",  # CIRCLED LATIN CAPITAL LETTER L: NFKC would make it L
        "9111000060003734\u00b9L",  # SUPERSCRIPT ONE
        "11010519491231002\u24e7",  # CIRCLED SMALL LETTER X
        "1101051949123100\U0001d7ce\U0001d7d0"[:18],  # MATHEMATICAL BOLD DIGITS
    ],
)
def test_compatibility_forms_other_than_full_width_are_not_folded(text: str) -> None:
    assert unicodedata.normalize("NFKC", text).isascii()  # NFKC would have accepted them
    result = check(text, today=TODAY)
    assert not result.valid and result.reason is not None
    assert result.reason.value == "characters"


def test_upper_casing_is_ascii_only() -> None:
    """'ß'.upper() is 'SS' and 'ﬀ'.upper() is 'FF' (F is in the GB 32100 alphabet)."""
    assert clean("ß ﬀ x") == "ßﬀX"
    with pytest.raises(IdentityKeyError) as info:
        parse("9111000060003734ﬀ", IdentityKind.CREDIT_CODE)
    assert isinstance(info.value, GovbusError)
