"""Identity keys of GM 18 ¶2: GB 11643 resident IDs, GB 32100 credit codes, GS 15 licences.

Check characters are computed here independently of exchange.identity (from the
standards' formulas), so the tests do not restate the implementation.
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from stdnum.cn import ric, uscc

from base.errors import IdentityKeyError
from exchange.identity import (
    IdentityKey,
    IdentityKind,
    Reason,
    check,
    parse,
)

TODAY = date(2025, 6, 1)


PROVINCES = [
    "11", "12", "13", "14", "15", "21", "22", "23", "31", "32", "33", "34", "35", "36", "37",
    "41", "42", "43", "44", "45", "46", "50", "51", "52", "53", "54", "61", "62", "63", "64",
    "65", "71", "81", "82", "83",
]  # fmt: skip


PAIRS = {
    "1": "1239", "2": "19", "3": "123459", "4": "19", "5": "1239", "6": "129",
    "7": "129", "8": "19", "9": "123", "A": "19", "N": "1239", "Y": "1",
}  # fmt: skip


USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"


RID, USCC, LICENCE = (
    IdentityKind.RESIDENT_ID,
    IdentityKind.CREDIT_CODE,
    IdentityKind.BUSINESS_LICENCE,
)


def gb11643_check(body17: str) -> str:
    """GB 11643: weights 2^(17-i) mod 11, check = (12 - sum mod 11) mod 11, 10 -> X."""
    total = sum(int(d) * pow(2, 17 - i, 11) for i, d in enumerate(body17))
    value = (12 - total % 11) % 11
    return "X" if value == 10 else str(value)


def gb11714_check(body8: str) -> str:
    total = sum(int(c, 36) * w for c, w in zip(body8, (3, 7, 9, 10, 5, 8, 4, 2), strict=True))
    value = 11 - total % 11
    return {10: "X", 11: "0"}.get(value, str(value))


def gb32100_check(body17: str) -> str:
    total = sum(USCC_ALPHABET.index(c) * pow(3, i, 31) for i, c in enumerate(body17))
    return USCC_ALPHABET[(31 - total % 31) % 31]


def mod_11_10_check(body14: str) -> str:
    """ISO 7064 MOD 11,10 (GB/T 17710) check digit, as used by GS 15 licence numbers."""
    product = 10
    for digit in body14:
        total = (product + int(digit)) % 10 or 10
        product = (total * 2) % 11
    return str((11 - product) % 10)


def resident_id(region: str, born: date, seq: str) -> str:
    body = f"{region}{born:%Y%m%d}{seq}"
    return body + gb11643_check(body)


def credit_code(pair: str, region: str, org_body: str) -> str:
    body = pair + region + org_body + gb11714_check(org_body)
    return body + gb32100_check(body)


def licence(body14: str) -> str:
    return body14 + mod_11_10_check(body14)


@st.composite
def valid_resident_ids(draw: st.DrawFn) -> str:
    region = draw(st.sampled_from(PROVINCES)) + draw(st.from_regex(r"\A[0-9]{4}\Z"))
    born = draw(st.dates(min_value=date(1850, 1, 1), max_value=TODAY))
    return resident_id(region, born, draw(st.from_regex(r"\A[0-9]{3}\Z")))


@st.composite
def valid_credit_codes(draw: st.DrawFn) -> str:
    authority = draw(st.sampled_from(sorted(PAIRS)))
    pair = authority + draw(st.sampled_from(PAIRS[authority]))
    region = draw(st.sampled_from([*PROVINCES, "10"]))
    region += "0000" if region == "10" else draw(st.from_regex(r"\A[0-9]{4}\Z"))
    org_body = draw(st.text(alphabet=USCC_ALPHABET, min_size=8, max_size=8))
    return credit_code(pair, region, org_body)


def one_char_changes(number: str, alphabet: str) -> st.SearchStrategy[str]:
    return (
        st.tuples(st.integers(0, len(number) - 1), st.sampled_from(alphabet))
        .filter(lambda t: number[t[0]] != t[1])
        .map(lambda t: number[: t[0]] + t[1] + number[t[0] + 1 :])
    )


@settings(max_examples=300)
@given(number=valid_resident_ids())
def test_every_generated_resident_id_validates(number: str) -> None:
    """GB 11643 form: any birth year, any 6-digit district under a known province (GM 18)."""
    result = check(number, RID, today=TODAY)
    assert result.valid, result
    assert result.normalized == number


@settings(max_examples=300)
@given(data=st.data(), number=valid_resident_ids())
def test_one_character_change_breaks_a_resident_id(data: st.DataObject, number: str) -> None:
    changed = data.draw(one_char_changes(number, "0123456789XA"))
    assert not check(changed, RID, today=TODAY).valid


@settings(max_examples=300)
@given(number=valid_credit_codes())
def test_every_generated_credit_code_validates(number: str) -> None:
    """Every authority/type pair GB 32100 allows, including A, N and Y (GM 18)."""
    result = check(number, USCC)
    assert result.valid, result
    assert parse(number, USCC).canonical == f"credit_code:{number}"


@settings(max_examples=300)
@given(data=st.data(), number=valid_credit_codes())
def test_one_character_change_breaks_a_credit_code(data: st.DataObject, number: str) -> None:
    changed = data.draw(one_char_changes(number, USCC_ALPHABET + "IOSVZ"))
    assert not check(changed, USCC).valid


@settings(max_examples=200)
@given(
    data=st.data(),
    province=st.sampled_from(PROVINCES),
    rest=st.from_regex(r"\A[0-9]{12}\Z"),
)
def test_licence_numbers_validate_and_one_change_breaks_them(
    data: st.DataObject, province: str, rest: str
) -> None:
    """GS 15 注册号: ISO 7064 MOD 11,10 detects every single-digit substitution."""
    number = licence(province + rest)
    assert check(number, LICENCE).valid
    assert not check(data.draw(one_char_changes(number, "0123456789")), LICENCE).valid


def test_known_number_and_normalisation() -> None:
    """Lower-case x, full-width digits, spaces and hyphens normalise to one form."""
    for raw in (
        "11010519491231002X",
        " 11010519491231002x ",
        "110105-19491231-002X",
        "１１０１０５１９４９１２３１００２ｘ",
    ):
        result = check(raw, today=TODAY)
        assert result.valid and result.kind is RID
        assert result.normalized == "11010519491231002X"


def test_legacy_15_digit_and_18_digit_forms_are_one_subject() -> None:
    """GB 11643-1999 conversion: insert "19", add the check digit (one number, one key)."""
    new = resident_id("520102", date(1965, 3, 7), "123")
    old = new[:6] + new[8:17]
    assert len(old) == 15
    key_old = parse(old, RID, today=TODAY)
    key_new = parse(new, RID, today=TODAY)
    assert key_old == key_new
    assert key_old.canonical == f"resident_id:{new}"


@pytest.mark.parametrize(
    ("region", "born"),
    [
        ("520102", date(1970, 1, 1)),  # 南明区: stdnum knows it only from 1983
        ("520114", date(1980, 1, 1)),  # 小河区, 2000-2012, merged into 花溪区
        ("110112", date(1960, 1, 1)),  # 通州区 (Beijing), a county until 1997
    ],
)
def test_district_code_renamed_or_created_later_is_still_valid(region: str, born: date) -> None:
    """A GB 11643 number keeps its address code for life; stdnum's year check rejects these."""
    number = resident_id(region, born, "001")
    assert not ric.is_valid(number)  # the library's narrower reading that we extend
    assert check(number, RID, today=TODAY).valid


def test_district_code_unknown_to_stdnum_is_valid_under_a_known_province() -> None:
    number = resident_id("520199", date(1980, 1, 1), "001")
    assert check(number, RID, today=TODAY).valid


def test_taiwan_residence_permit_prefix_83_is_accepted() -> None:
    assert check(resident_id("830000", date(1990, 1, 1), "001"), RID, today=TODAY).valid


@pytest.mark.parametrize(
    ("number", "reason"),
    [
        (resident_id("110105", TODAY + timedelta(days=1), "001"), Reason.BIRTH_DATE),
        ("11010519490230" + "001" + "0", Reason.BIRTH_DATE),  # 30 February
        (resident_id("100000", date(1980, 1, 1), "001"), Reason.REGION),
        (resident_id("990000", date(1980, 1, 1), "001"), Reason.REGION),
        ("11010519491231002", Reason.LENGTH),
        ("11010519491231002Y", Reason.CHARACTERS),
        ("1101051949123100X2", Reason.CHARACTERS),
        ("110105194912310029", Reason.CHECKSUM),
        ("110105491231", Reason.LENGTH),
    ],
)
def test_invalid_resident_ids_name_the_reason(number: str, reason: Reason) -> None:
    result = check(number, RID, today=TODAY)
    assert (result.valid, result.reason) == (False, reason)
    with pytest.raises(IdentityKeyError) as info:
        parse(number, RID, today=TODAY)
    assert info.value.code == reason.value
    assert info.value.article == "GM 18"


def test_birth_date_today_is_valid_and_legacy_numbers_are_19xx() -> None:
    assert check(resident_id("110105", TODAY, "001"), RID, today=TODAY).valid
    legacy_future = "110105" + "991231" + "001"  # converts to 1999: not in the future
    assert check(legacy_future, RID, today=TODAY).valid


@pytest.mark.parametrize("pair", ["A1", "A9", "N1", "N2", "N3", "N9", "Y1"])
def test_letter_registration_authorities_stdnum_rejects_are_valid(pair: str) -> None:
    number = credit_code(pair, "520100", "MA6D7K3Q")
    assert not uscc.is_valid(number)
    assert check(number, USCC).valid


def test_real_credit_codes() -> None:
    for number in ("91110000600037341L", "11100000000013127D"):
        assert check(number).kind is USCC


@pytest.mark.parametrize("pair", ["94", "99", "Y2", "22", "B1", "01", "A2", "N4"])
def test_authority_and_type_pairs_outside_the_standard(pair: str) -> None:
    body = pair + "520100" + "60003734" + gb11714_check("60003734")
    number = body + gb32100_check(body)
    assert check(number, USCC).reason is Reason.ORGANISATION_TYPE


def test_organisation_code_check_character_is_checked() -> None:
    """GB 11714 check character inside the code, even when the final character fits."""
    good = credit_code("91", "520100", "60003734")
    wrong_org = good[:16] + ("2" if good[16] != "2" else "3")
    forged = wrong_org[:17] + gb32100_check(wrong_org[:17])
    assert uscc.is_valid(forged)  # stdnum does not check GB 11714
    assert check(forged, USCC).reason is Reason.CHECKSUM


def test_credit_code_region_and_characters() -> None:
    assert check(credit_code("91", "990000", "60003734"), USCC).reason is Reason.REGION
    assert check("91520100600037341I", USCC).reason is Reason.CHARACTERS
    assert check("9152A100600037341L", USCC).reason is Reason.CHARACTERS


def test_licence_number_without_credit_code() -> None:
    """GM 18 ¶2: a market entity without a credit code is keyed by its licence."""
    number = licence("52010099912345")  # digits 7-12 (999123) are no birth date
    result = check(number)
    assert (result.valid, result.kind) == (True, LICENCE)
    assert parse(number).canonical == f"business_licence:{number}"


def test_fifteen_digits_valid_as_both_kinds_are_ambiguous() -> None:
    body = "52010265030712"  # a legacy ID body that also takes a MOD 11,10 digit
    number = licence(body)
    assert check(number, RID, today=TODAY).valid
    assert check(number, LICENCE).valid
    result = check(number, today=TODAY)
    assert (result.valid, result.kind, result.reason) == (False, None, Reason.AMBIGUOUS)
    with pytest.raises(IdentityKeyError) as info:
        parse(number, today=TODAY)
    assert info.value.code == "ambiguous"


def test_fifteen_digits_valid_as_one_kind_only_are_that_kind() -> None:
    """Decision: ambiguous only when both readings pass; else the one that passes."""
    body = "52010265030712"
    good = licence(body)
    other = body + str((int(good[-1]) + 1) % 10)  # a legacy ID, not a licence
    assert check(other, today=TODAY).kind is RID


def test_no_kind_fits() -> None:
    assert check("12345", today=TODAY).reason is Reason.LENGTH
    result = check("110105194912310029", today=TODAY)  # an ID with a wrong check digit
    assert (result.valid, result.kind, result.reason) == (False, None, Reason.CHECKSUM)


def test_identity_key_is_a_value() -> None:
    key = IdentityKey(RID, "11010519491231002X")
    assert key == parse("11010519491231002x", today=TODAY)
    assert {key: 1}[parse("11010519491231002X", today=TODAY)] == 1
