"""Identity keys of GM 18 ¶2: resident ID numbers, unified social credit codes, licences.

Persons are keyed by 居民身份证号码 (GB 11643), legal persons and other organisations by
统一社会信用代码 (GB 32100), and a market entity without a credit code by its business
licence registration number (注册号, GS 15). :func:`check` never raises for bad input;
:func:`parse` raises :class:`IdentityKeyError` whose ``code`` is the reason.

Where this differs from python-stdnum (2.2), and why:

* ``stdnum.cn.ric.validate`` looks the full 6-digit county code up in its own snapshot of
  GB/T 2260 and rejects codes not in force in the holder's birth year. GB 11643 numbers
  keep their address code for life, whatever later renamed or abolished the district, and a
  code is often assigned after birth (first registration), so the bus checks only the
  2-digit province prefix (:data:`PROVINCE_CODES`) and uses stdnum's ISO 7064 MOD 11-2
  only. Any birth year is accepted; the date must exist and not be in the future.
* ``stdnum.cn.uscc.validate`` requires the first 8 characters to be digits, so it rejects
  the registration authorities A, N and Y that GB 32100 allows, and it checks neither the
  authority/type pair nor the GB 11714 check character of the organisation code. The bus
  uses stdnum's MOD 31 check-character calculation and adds the rest.
* stdnum has no GS 15 licence numbers; they use ``stdnum.iso7064.mod_11_10``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum

from stdnum.cn import uscc
from stdnum.iso7064 import mod_11_2, mod_11_10

from base.errors import IdentityKeyError
from exchange.workdays import LEGAL_TIMEZONE

ARTICLE = "GM 18"

# GB/T 2260 province-level codes. 71 is Taiwan in GB/T 2260; 81 and 82 (Hong Kong,
# Macao) and 83 are the address codes of the GB 11643-form numbers on residence permits
# for Hong Kong, Macao (810000, 820000) and Taiwan (830000) residents. 83 is not a
# GB/T 2260 code, but its permits carry the same 18-digit form and check digit and their
# holders are persons the bus must key; rejecting 83 while 81/82 pass would be arbitrary.
PROVINCE_CODES = frozenset(
    {"11", "12", "13", "14", "15", "21", "22", "23"}
    | {"31", "32", "33", "34", "35", "36", "37"}
    | {"41", "42", "43", "44", "45", "46", "50", "51", "52", "53", "54"}
    | {"61", "62", "63", "64", "65", "71", "81", "82", "83"}
)
NATIONAL_REGION = "100000"  # central registration authorities (credit codes, licences)

# GB 32100-2015 Appendix A with its amendments: registration authority -> organisation
# types. Source: the brief's table, cross-checked against several independent public
# implementations quoting the standard's table (1 机构编制, 2 外交, 3 司法行政, 4 文化,
# 5 民政, 6 旅游, 7 宗教, 8 工会, 9 工商, A 中央军委改革和编制办公室, N 农业, Y 其他);
# the standard text itself was not available to check.
CREDIT_CODE_TYPES: dict[str, frozenset[str]] = {
    "1": frozenset("1239"),
    "2": frozenset("19"),
    "3": frozenset("123459"),
    "4": frozenset("19"),
    "5": frozenset("1239"),
    "6": frozenset("129"),
    "7": frozenset("129"),
    "8": frozenset("19"),
    "9": frozenset("123"),
    "A": frozenset("19"),
    "N": frozenset("1239"),
    "Y": frozenset("1"),
}
CREDIT_CODE_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"  # GB 32100: no I, O, S, V, Z
ORG_CODE_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)  # GB 11714
ORG_CODE_MODULUS = 11
RESIDENT_ID_LENGTH = 18
LEGACY_ID_LENGTH = 15
CREDIT_CODE_LENGTH = 18
LICENCE_LENGTH = 15
LEGACY_CENTURY = "19"  # GB 11643-1999: 15-digit numbers are converted by inserting "19"
#: The only digits any of the three standards uses (GB 11643, GB 32100, GS 15): ASCII.
#: ``str.isdigit`` is not enough: it accepts every Unicode digit ('\u19da', '٣', '²'),
#: which python-stdnum's ``int()`` then refuses with a ValueError.
DIGITS = frozenset("0123456789")
RESIDENT_ID_CHECK = "X"  # GB 11643: the check character 10 (x accepted, upper-cased)
_DROPPED = frozenset("-")
#: Full-width forms (U+FF01..U+FF5E, what Chinese input methods type) -> ASCII; nothing
#: else is folded, so circled, superscript or other scripts' digits stay and are refused.
_FULL_WIDTH_OFFSET = 0xFEE0
_FOLD = str.maketrans(
    {chr(c): chr(c - _FULL_WIDTH_OFFSET) for c in range(0xFF01, 0xFF5F)}
    | {chr(c + _FULL_WIDTH_OFFSET): chr(c).upper() for c in range(ord("a"), ord("z") + 1)}
    | {chr(c): chr(c).upper() for c in range(ord("a"), ord("z") + 1)}  # ASCII only: not 'ß'
)


class IdentityKind(StrEnum):
    RESIDENT_ID = "resident_id"
    CREDIT_CODE = "credit_code"
    BUSINESS_LICENCE = "business_licence"


class Reason(StrEnum):
    """Why a number is invalid; ordered by how far the checks got (used to pick a reason)."""

    LENGTH = "length"
    CHARACTERS = "characters"
    ORGANISATION_TYPE = "organisation_type"
    REGION = "region"
    BIRTH_DATE = "birth_date"
    CHECKSUM = "checksum"
    AMBIGUOUS = "ambiguous"


_PROGRESS = {reason: rank for rank, reason in enumerate(Reason)}


#: Between the kind and the number of a canonical subject.
SUBJECT_SEPARATOR = ":"


@dataclass(frozen=True, slots=True)
class Subject:
    """The canonical subject, ``<kind>:<number>`` (``resident_id:11010519491231002X``): the
    key of every record about one person or organisation on the bus (GM 18 ¶2).

    Built (``str()``) and split (:meth:`parse`) here only. ``number`` is the normalised
    identity number, or its masked form in a delivery (the kind stays readable).
    """

    kind: IdentityKind
    number: str

    def __str__(self) -> str:
        return f"{self.kind}{SUBJECT_SEPARATOR}{self.number}"  # a StrEnum formats as its value

    @property
    def key(self) -> bytes:
        """The message key of every record about this subject (UTF-8)."""
        return str(self).encode("utf-8")

    def with_number(self, number: str) -> Subject:
        """The same kind with another number (a masked one)."""
        return Subject(self.kind, number)

    @classmethod
    def parse(cls, text: str) -> Subject:
        """Split ``<kind>:<number>``; :class:`IdentityKeyError` (``subject_form``) when
        ``text`` is not of that form. The number is not validated (see :func:`check`)."""
        kind, sep, number = text.partition(SUBJECT_SEPARATOR)
        if not sep or not number or kind not in _KINDS:
            raise IdentityKeyError(
                f"{text!r} is not a canonical subject <kind>:<number> "
                f"(kind one of {', '.join(sorted(_KINDS))})",
                code="subject_form",
                article=ARTICLE,
            )
        return cls(IdentityKind(kind), number)


_KINDS = frozenset(k.value for k in IdentityKind)


def mask_subject(text: str, mask: Callable[[str], object]) -> str:
    """The canonical subject ``text`` with its number masked and its kind kept readable
    (a delivery's key, GM 9); a bare number is masked whole."""
    kind, sep, number = text.rpartition(SUBJECT_SEPARATOR)
    return f"{kind}{sep}{mask(number)}"


@dataclass(frozen=True)
class IdentityKey:
    kind: IdentityKind
    normalized: str

    @property
    def subject(self) -> Subject:
        return Subject(self.kind, self.normalized)

    @property
    def canonical(self) -> str:
        """``kind:number``: one subject, one key (15- and 18-digit IDs coincide)."""
        return str(self.subject)


@dataclass(frozen=True)
class CheckResult:
    valid: bool
    kind: IdentityKind | None
    normalized: str
    reason: Reason | None

    def to_json(self) -> dict[str, object]:
        return {
            "valid": self.valid,
            "kind": None if self.kind is None else self.kind.value,
            "normalized": self.normalized,
            "reason": None if self.reason is None else self.reason.value,
        }


def clean(number: str) -> str:
    """Full-width digits and letters to ASCII, no whitespace or hyphens, ASCII upper case.

    Only ASCII letters are upper-cased: ``str.upper`` would turn 'ß' into 'SS' and 'ﬀ'
    into 'FF', characters of the GB 32100 alphabet.
    """
    text = number.translate(_FOLD)
    return "".join(c for c in text if not c.isspace() and c not in _DROPPED)


def is_digits(text: str) -> bool:
    """Only ASCII digits (and at least one): the GB 11643 / GB 32100 / GS 15 digits."""
    return bool(text) and all(c in DIGITS for c in text)


def _today() -> date:
    return datetime.now(LEGAL_TIMEZONE).date()


def _birth_date(digits: str, today: date) -> Reason | None:
    try:
        born = date(int(digits[:4]), int(digits[4:6]), int(digits[6:8]))
    except ValueError:
        return Reason.BIRTH_DATE
    return Reason.BIRTH_DATE if born > today else None


def _resident_id(number: str, today: date) -> tuple[str, Reason | None]:
    """(18-digit form, failure); a 15-digit legacy number is converted first."""
    if len(number) == LEGACY_ID_LENGTH:
        if not is_digits(number):
            return number, Reason.CHARACTERS
        body = number[:6] + LEGACY_CENTURY + number[6:]
        number = body + mod_11_2.calc_check_digit(body)
    elif len(number) != RESIDENT_ID_LENGTH:
        return number, Reason.LENGTH
    if not is_digits(number[:-1]) or number[-1] not in DIGITS | {RESIDENT_ID_CHECK}:
        return number, Reason.CHARACTERS
    if number[:2] not in PROVINCE_CODES:
        return number, Reason.REGION
    failure = _birth_date(number[6:14], today)
    if failure is not None:
        return number, failure
    return number, None if mod_11_2.is_valid(number) else Reason.CHECKSUM


def org_code_check_char(body: str) -> str:
    """GB 11714 check character of an 8-character organisation code body."""
    total = sum(int(c, 36) * w for c, w in zip(body, ORG_CODE_WEIGHTS, strict=True))
    value = ORG_CODE_MODULUS - total % ORG_CODE_MODULUS
    return {10: "X", 11: "0"}.get(value, str(value))


def _region_ok(code: str) -> bool:
    return is_digits(code) and (code[:2] in PROVINCE_CODES or code == NATIONAL_REGION)


def _credit_code(number: str, today: date) -> tuple[str, Reason | None]:
    if len(number) != CREDIT_CODE_LENGTH:
        return number, Reason.LENGTH
    if any(c not in CREDIT_CODE_ALPHABET for c in number) or not is_digits(number[2:8]):
        return number, Reason.CHARACTERS
    if number[1] not in CREDIT_CODE_TYPES.get(number[0], frozenset()):
        return number, Reason.ORGANISATION_TYPE
    if not _region_ok(number[2:8]):
        return number, Reason.REGION
    if org_code_check_char(number[8:16]) != number[16]:
        return number, Reason.CHECKSUM
    return number, None if uscc.calc_check_digit(number) == number[-1] else Reason.CHECKSUM


def _licence(number: str, today: date) -> tuple[str, Reason | None]:
    if len(number) != LICENCE_LENGTH:
        return number, Reason.LENGTH
    if not is_digits(number):
        return number, Reason.CHARACTERS
    if not _region_ok(number[:6]):
        return number, Reason.REGION
    return number, None if mod_11_10.is_valid(number) else Reason.CHECKSUM


_CHECKS: dict[IdentityKind, Callable[[str, date], tuple[str, Reason | None]]] = {
    IdentityKind.RESIDENT_ID: _resident_id,
    IdentityKind.CREDIT_CODE: _credit_code,
    IdentityKind.BUSINESS_LICENCE: _licence,
}


def check(
    number: str, kind: IdentityKind | None = None, *, today: date | None = None
) -> CheckResult:
    """Classify and validate; never raises for invalid input.

    ``today`` (default: today in Asia/Shanghai) bounds birth dates. Without ``kind``
    every kind is tried: exactly one fitting kind is the answer; two fitting kinds (a
    15-digit number that is both a legacy ID and a licence number with a correct check
    digit, or an 18-digit one that is both an ID and a credit code) is ``ambiguous``;
    none fitting reports the failure of the kind whose checks got furthest, with kind
    None. A licence number with a wrong check digit whose digits also read as a legacy
    ID is therefore taken as an ID: producers should pass ``kind`` from the column.
    """
    day = _today() if today is None else today
    text = clean(number)
    if kind is not None:
        normalized, failure = _CHECKS[kind](text, day)
        return CheckResult(failure is None, kind, normalized, failure)
    outcomes = {k: fn(text, day) for k, fn in _CHECKS.items()}
    fits = [k for k, (_, failure) in outcomes.items() if failure is None]
    if len(fits) == 1:
        return CheckResult(True, fits[0], outcomes[fits[0]][0], None)
    if fits:
        return CheckResult(False, None, text, Reason.AMBIGUOUS)
    furthest = max(
        (failure for _, failure in outcomes.values() if failure is not None),
        key=_PROGRESS.__getitem__,
    )
    return CheckResult(False, None, text, furthest)


def parse(
    number: str, kind: IdentityKind | None = None, *, today: date | None = None
) -> IdentityKey:
    """The identity key, or :class:`IdentityKeyError` with ``code`` = the reason."""
    result = check(number, kind, today=today)
    if not result.valid or result.kind is None:
        reason = result.reason or Reason.AMBIGUOUS
        raise IdentityKeyError(
            f"invalid identity number {result.normalized!r}: {reason.value}",
            code=reason.value,
            article=ARTICLE,
        )
    return IdentityKey(result.kind, result.normalized)
