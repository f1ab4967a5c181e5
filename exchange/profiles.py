"""Jurisdiction profiles (Decision D3) as strictly validated data files.

One YAML file per profile in a directory (``<id>.yaml``); the packaged directory
``exchange/profiles/`` is the default. A new city is a new file, never an ``if``. Every
unknown key, bad value or citation of a text the profile does not include is a
:class:`~base.errors.ProfileError` naming the file and the key path.

Obligations (regulations.md, "Jurisdiction profiles"): each has one or more periods. When
several periods apply, all due dates are computed and the earliest binds (D2, see
:mod:`exchange.deadlines`). ``cases`` / ``applies_to`` scope a period to one kind of
matter (e.g. GM 31's 5 working days only for complaints of GM breaches); a period without
``applies_to`` applies to every case. The dated periods of one obligation share one
start event, so one trigger time serves them all.

Catalog admission: which entries a bus under the profile takes (:mod:`exchange.catalog_loader`
applies it to ``govbus catalog validate`` and ``import``). Share types are ``sharing.types``
(a profile without ``sharing``, like Jinan's opening-only text, takes only entries that are
not shared); open types are ``opening.types``; ``catalog_admission.refused_sensitivities``
lists grades the bus may not hold at all (GM 24: nothing 涉密 on the cloud-hosted Guiyang
platform), cited by ``catalog_admission.basis``, which also cites why a profile without
``sharing`` shares nothing. ``catalog_admission`` may be absent or null: nothing refused.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Set
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, TypeVar

import yaml

from base.errors import ProfileError
from exchange.catalog import Sensitivity

PACKAGED_PROFILES_DIR = Path(__file__).with_name("profiles")
PROFILES_DIR_ENV = "GOVBUS_PROFILES_DIR"
PROFILE_SUFFIX = ".yaml"
MAX_PERIOD_AMOUNT = 366

OBLIGATION_NAMES = (
    "share_reply",
    "open_reply",
    "open_review",
    "error_report_reply",
    "catalog_update_law_change",
    "catalog_update_circumstances",
    "complaint_reply",
)

_CITATION = re.compile(r"^(?P<siglum>[A-Z][A-Z0-9]*) \d+( ¶\d+)?(\([一二三四五六七八九十]+\))?$")
_CASE = re.compile(r"^[a-z][a-z0-9_]*$")


class Unit(StrEnum):
    WORKING_DAYS = "working_days"
    CALENDAR_DAYS = "calendar_days"
    PROMPTLY = "promptly"


class StartEvent(StrEnum):
    APPLICATION = "application"  # 申请之日
    ACCEPTANCE = "acceptance"  # 受理
    RECEIPT = "receipt"  # 收到
    OCCURRENCE = "occurrence"  # 情形发生之日


class ShareType(StrEnum):
    UNCONDITIONAL = "unconditional"
    CONDITIONAL = "conditional"
    NOT_SHARED = "not_shared"


class ConditionalScope(StrEnum):
    AGENCIES = "agencies"  # 仅提供给相关行政机关或者部分行政机关 (G 14, S 22)
    FIELDS = "fields"  # 仅能够部分提供给所有政务部门 (S 22)


class OpenType(StrEnum):
    UNCONDITIONAL = "unconditional"
    CONDITIONAL = "conditional"
    ON_APPLICATION = "on_application"
    DESENSITISED = "desensitised"
    NOT_OPEN = "not_open"


class LifecycleStep(StrEnum):
    BUREAU_REVIEW = "bureau_review"
    GOVERNMENT_APPROVAL = "government_approval"
    PUBLISH = "publish"


class RefusalRequirement(StrEnum):
    """What a refusal of a share application must give (G 15 ¶2 说明理由; S 25 ¶3 依据)."""

    REASONS = "reasons"  # 不同意的说明理由 (G 15 ¶2, G17 15 ¶2)
    LEGAL_BASIS = "legal_basis"  # 应提供法律、法规或规章依据 (S 25 ¶3)


class DisputeStep(StrEnum):
    """Who settles a dispute over a share application, in order (G 15 ¶3, S 28)."""

    BUREAU_COORDINATION = "bureau_coordination"  # 市大数据主管部门协调处理
    GOVERNMENT_DECISION = "government_decision"  # 协调处理不成的 ... 报市政府决定 (S 28)


class AnswerKind(StrEnum):
    """The provider's answers a dispute can be raised against."""

    REFUSED = "refused"
    APPROVED = "approved"  # an approval the applicant disputes (fewer items, shorter)


class ConsentMatter(StrEnum):
    COMMERCIAL_SECRET = "commercial_secret"  # noqa: S105 (商业秘密, not a password)
    PRIVACY = "privacy"


class DelegationLimit(StrEnum):
    MATTER = "matter"
    ACCESS_COUNT = "access_count"
    TERM = "term"


@dataclass(frozen=True)
class Period:
    """One statutory period: ``amount`` days of ``unit`` from ``starts_from``."""

    unit: Unit
    starts_from: StartEvent
    basis: str
    amount: int | None = None
    applies_to: tuple[str, ...] = ()

    @property
    def is_promptly(self) -> bool:
        return self.unit is Unit.PROMPTLY


@dataclass(frozen=True)
class Obligation:
    name: str
    periods: tuple[Period, ...]
    cases: tuple[str, ...] = ()
    note: str = ""


@dataclass(frozen=True)
class DeemedConsent:
    share_types: tuple[ShareType, ...]
    basis: str


@dataclass(frozen=True)
class ThirdPartyPassOn:
    forbidden: bool
    basis: str
    note: str = ""


@dataclass(frozen=True)
class ShareApplicationRules:
    """How a conditional-sharing application is answered and disputed, by city.

    ``refusal_requires``: what a refusal must state (Guiyang: reasons, G 15 ¶2; Shenyang:
    the legal basis, S 25 ¶3). ``dispute_from``: the answers the applicant may dispute
    (G 15 ¶3: a refusal; S 28: any dispute). ``dispute_steps``: who settles it, in order.
    """

    refusal_requires: tuple[RefusalRequirement, ...]
    refusal_basis: str
    dispute_from: tuple[AnswerKind, ...]
    dispute_steps: tuple[DisputeStep, ...]
    dispute_basis: str


@dataclass(frozen=True)
class Sharing:
    types: tuple[ShareType, ...]
    conditional_scopes: tuple[ConditionalScope, ...]
    basis: str
    deemed_consent: DeemedConsent | None
    third_party_pass_on: ThirdPartyPassOn
    application: ShareApplicationRules | None = None


@dataclass(frozen=True)
class Opening:
    types: tuple[OpenType, ...]
    default: OpenType | None
    basis: str
    note: str = ""


@dataclass(frozen=True)
class SubjectAuthorisation:
    consent_required_for: tuple[ConsentMatter, ...]
    delegated_use_limits: tuple[DelegationLimit, ...]
    basis: str


@dataclass(frozen=True)
class CatalogFiling:
    """Entries of these share types are filed (备案) with the bureau with their legal basis
    (S 23 `有条件共享和不予共享的 ... 提供相关法律、法规、规章依据，并 ... 备案`)."""

    share_types: tuple[ShareType, ...]
    basis: str


@dataclass(frozen=True)
class CatalogLifecycle:
    """How a catalog entry or a change to one reaches the catalog (G 11, GM 14, S 18, J 11).

    ``steps``: the reviews, in order, then publication. ``attribute_change_needs_bureau_
    consent``: a change of a published entry's share or open attributes needs the bureau's
    consent, cited by ``attribute_change_basis`` (J 9 ¶4). ``filing``: entries filed with
    their legal basis (S 23). ``withdrawal_notice_basis``: stopping a published entry is
    filed in advance with its reason, not approved (S 27 ¶2); empty: a withdrawal is a
    change like any other, reviewed through ``steps``. ``full_maintenance_basis``: every
    agency maintains its catalog fully at least once a year (GM 15 ¶1); empty: no such duty.
    """

    steps: tuple[LifecycleStep, ...]
    attribute_change_needs_bureau_consent: bool
    basis: str
    attribute_change_basis: str = ""
    filing: CatalogFiling | None = None
    withdrawal_notice_basis: str = ""
    full_maintenance_basis: str = ""


@dataclass(frozen=True)
class CatalogAdmission:
    """Entries a bus under the profile refuses beyond its share and open types."""

    refused_sensitivities: tuple[Sensitivity, ...]
    basis: str
    note: str = ""


@dataclass(frozen=True)
class City:
    """The city a profile governs: its name and a district's division code (GB/T 2260), the
    first six digits of its residents' ID numbers and of its organisations' credit codes."""

    name_zh: str
    region_code: str


@dataclass(frozen=True)
class Profile:
    id: str
    title: str
    texts: tuple[tuple[str, str], ...]
    obligations: tuple[Obligation, ...]
    sharing: Sharing | None
    opening: Opening
    subject_authorisation: SubjectAuthorisation | None
    catalog_lifecycle: CatalogLifecycle
    source: str
    catalog_admission: CatalogAdmission | None = None
    #: The city the profile governs (its name and administrative division code, GB/T 2260);
    #: None for a profile not tied to one city.
    city: City | None = None

    def obligation(self, name: str) -> Obligation | None:
        """The obligation, or None when the profile has none of that name."""
        return next((o for o in self.obligations if o.name == name), None)


@dataclass(frozen=True)
class ProfileSet:
    profiles: tuple[Profile, ...]

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(p.id for p in self.profiles)

    def get(self, profile_id: str) -> Profile:
        for profile in self.profiles:
            if profile.id == profile_id:
                return profile
        raise ProfileError(
            f"unknown profile {profile_id!r} (known: {', '.join(self.ids) or 'none'})",
            code="unknown_profile",
        )


def profiles_dir_from_env(environ: Mapping[str, str]) -> Path:
    """``GOVBUS_PROFILES_DIR`` from ``environ``, else the packaged directory."""
    raw = environ.get(PROFILES_DIR_ENV, "").strip()
    return Path(raw) if raw else PACKAGED_PROFILES_DIR


def load_profiles(directory: Path = PACKAGED_PROFILES_DIR) -> ProfileSet:
    """Every ``*.yaml`` profile in ``directory``, validated."""
    if not directory.is_dir():
        raise ProfileError(f"{directory}: not a directory", code="no_directory")
    paths = sorted(p for p in directory.iterdir() if p.suffix == PROFILE_SUFFIX)
    return ProfileSet(tuple(load_profile(p) for p in paths))


def load_profile(path: Path) -> Profile:
    """Read one profile file; its ``id`` must equal the file name without ``.yaml``."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ProfileError(f"{path}: cannot read: {exc}", code="unreadable") from exc
    return _Reader(str(path)).profile(data, path.stem)


_E = TypeVar("_E", bound=StrEnum)


class _Reader:
    """Strict structural validation; every error names the file and the key path."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.sigla: frozenset[str] = frozenset()

    def fail(self, where: str, message: str, code: str = "invalid") -> ProfileError:
        return ProfileError(f"{self.source}: {where}: {message}", code=code)

    def mapping(
        self, data: object, where: str, required: Set[str], optional: Set[str] = frozenset()
    ) -> dict[str, Any]:
        if not isinstance(data, dict):
            raise self.fail(where, "expected a mapping")
        for key in data:
            if key not in required and key not in optional:
                raise self.fail(where, f"unknown key {key!r}", code="unknown_key")
        missing = sorted(required - set(data))
        if missing:
            raise self.fail(where, f"missing key {missing[0]!r}", code="missing_key")
        return dict(data)

    def text(self, data: object, where: str) -> str:
        if not isinstance(data, str) or not data.strip():
            raise self.fail(where, "expected a non-empty string")
        return data

    def flag(self, data: object, where: str) -> bool:
        if not isinstance(data, bool):
            raise self.fail(where, "expected true or false")
        return data

    def enum(self, kind: type[_E], data: object, where: str) -> _E:
        for member in kind:
            if member.value == data:
                return member
        allowed = ", ".join(m.value for m in kind)
        raise self.fail(where, f"{data!r} is not one of: {allowed}")

    def enums(self, kind: type[_E], data: object, where: str) -> tuple[_E, ...]:
        items = self.items(data, where)
        values = tuple(self.enum(kind, v, f"{where}[{i}]") for i, v in enumerate(items))
        if len(set(values)) != len(values):
            raise self.fail(where, "duplicate value")
        return values

    def items(self, data: object, where: str) -> list[Any]:
        if not isinstance(data, list):
            raise self.fail(where, "expected a list")
        return data

    def basis(self, data: object, where: str) -> str:
        basis = self.text(data, where)
        for cite in basis.split("; "):
            match = _CITATION.match(cite)
            if match is None:
                raise self.fail(where, f"{cite!r} is not a citation like 'G 15' or 'GM 15 ¶2'")
            if match["siglum"] not in self.sigla:
                raise self.fail(where, f"{cite!r} cites a text not in 'texts'")
        return basis

    def profile(self, data: object, stem: str) -> Profile:
        top = self.mapping(
            data,
            "top level",
            {
                "id",
                "title",
                "texts",
                "obligations",
                "sharing",
                "opening",
                "subject_authorisation",
                "catalog_lifecycle",
            },
            {"catalog_admission", "city"},
        )
        profile_id = self.text(top["id"], "id")
        if profile_id != stem:
            raise self.fail("id", f"{profile_id!r} differs from the file name {stem!r}")
        texts = top["texts"]  # siglum -> text; any siglum may be declared
        if not isinstance(texts, dict) or not texts:
            raise self.fail("texts", "expected a non-empty mapping of siglum to text")
        self.sigla = frozenset(map(str, texts))
        pairs = tuple((str(k), self.text(v, f"texts.{k}")) for k, v in texts.items())
        return Profile(
            id=profile_id,
            title=self.text(top["title"], "title"),
            texts=pairs,
            obligations=self.obligations(top["obligations"]),
            sharing=None if top["sharing"] is None else self.sharing(top["sharing"]),
            opening=self.opening(top["opening"]),
            subject_authorisation=self.subject(top["subject_authorisation"]),
            catalog_lifecycle=self.lifecycle(top["catalog_lifecycle"]),
            source=self.source,
            catalog_admission=self.admission(top.get("catalog_admission")),
            city=self.city(top.get("city")),
        )

    def city(self, data: object) -> City | None:
        if data is None:
            return None
        body = self.mapping(data, "city", {"name_zh", "region_code"})
        code = str(body["region_code"])
        if not re.fullmatch(r"[1-9][0-9]{5}", code):
            raise self.fail("city.region_code", f"{code!r} is not a six-digit division code")
        return City(self.text(body["name_zh"], "city.name_zh"), code)

    def obligations(self, data: object) -> tuple[Obligation, ...]:
        entries = self.mapping(data, "obligations", set(), set(OBLIGATION_NAMES))
        return tuple(
            self.obligation(name, entries[name])
            for name in OBLIGATION_NAMES
            if entries.get(name) is not None  # null or absent: no such obligation
        )

    def obligation(self, name: str, data: object) -> Obligation:
        where = f"obligations.{name}"
        entry = self.mapping(data, where, {"periods"}, {"cases", "note"})
        cases = tuple(self.items(entry.get("cases", []), f"{where}.cases"))
        for case in cases:
            if not isinstance(case, str) or not _CASE.match(case):
                raise self.fail(f"{where}.cases", f"{case!r} is not a lower_case name")
        raw = self.items(entry["periods"], f"{where}.periods")
        if not raw:
            raise self.fail(f"{where}.periods", "at least one period is required")
        periods = tuple(self.period(p, f"{where}.periods[{i}]", cases) for i, p in enumerate(raw))
        starts = {p.starts_from for p in periods if not p.is_promptly}
        if len(starts) > 1:
            raise self.fail(f"{where}.periods", "dated periods must share one starts_from")
        note = self.text(entry["note"], f"{where}.note") if "note" in entry else ""
        return Obligation(name, periods, cases, note)

    def period(self, data: object, where: str, cases: tuple[str, ...]) -> Period:
        entry = self.mapping(
            data, where, {"unit", "starts_from", "basis"}, {"amount", "applies_to"}
        )
        unit = self.enum(Unit, entry["unit"], f"{where}.unit")
        amount = entry.get("amount")
        if unit is Unit.PROMPTLY:
            if amount is not None:
                raise self.fail(f"{where}.amount", "a 'promptly' period has no amount")
        elif not isinstance(amount, int) or isinstance(amount, bool):
            raise self.fail(f"{where}.amount", "expected a whole number of days")
        elif not 1 <= amount <= MAX_PERIOD_AMOUNT:
            raise self.fail(f"{where}.amount", f"must be 1..{MAX_PERIOD_AMOUNT}")
        applies_to = tuple(self.items(entry.get("applies_to", []), f"{where}.applies_to"))
        for case in applies_to:
            if case not in cases:
                raise self.fail(f"{where}.applies_to", f"{case!r} is not one of the 'cases'")
        return Period(
            unit=unit,
            starts_from=self.enum(StartEvent, entry["starts_from"], f"{where}.starts_from"),
            basis=self.basis(entry["basis"], f"{where}.basis"),
            amount=amount,
            applies_to=applies_to,
        )

    def sharing(self, data: object) -> Sharing:
        entry = self.mapping(
            data,
            "sharing",
            {"types", "conditional_scopes", "basis", "deemed_consent", "third_party_pass_on"},
            {"application"},
        )
        consent = entry["deemed_consent"]
        deemed = None
        if consent is not None:
            c = self.mapping(consent, "sharing.deemed_consent", {"share_types", "basis"})
            deemed = DeemedConsent(
                self.enums(ShareType, c["share_types"], "sharing.deemed_consent.share_types"),
                self.basis(c["basis"], "sharing.deemed_consent.basis"),
            )
        where = "sharing.third_party_pass_on"
        pass_on = self.mapping(
            entry["third_party_pass_on"], where, {"forbidden", "basis"}, {"note"}
        )
        return Sharing(
            types=self.enums(ShareType, entry["types"], "sharing.types"),
            conditional_scopes=self.enums(
                ConditionalScope, entry["conditional_scopes"], "sharing.conditional_scopes"
            ),
            basis=self.basis(entry["basis"], "sharing.basis"),
            deemed_consent=deemed,
            third_party_pass_on=ThirdPartyPassOn(
                self.flag(pass_on["forbidden"], f"{where}.forbidden"),
                self.basis(pass_on["basis"], f"{where}.basis"),
                self.text(pass_on["note"], f"{where}.note") if "note" in pass_on else "",
            ),
            application=self.application(entry["application"])
            if entry.get("application") is not None
            else None,
        )

    def application(self, data: object) -> ShareApplicationRules:
        where = "sharing.application"
        entry = self.mapping(
            data,
            where,
            {"refusal_requires", "refusal_basis", "dispute_from", "dispute_steps", "dispute_basis"},
        )
        steps = self.enums(DisputeStep, entry["dispute_steps"], f"{where}.dispute_steps")
        if not steps or steps[0] is not DisputeStep.BUREAU_COORDINATION:
            raise self.fail(f"{where}.dispute_steps", "the bureau coordinates first (G 15, S 28)")
        return ShareApplicationRules(
            refusal_requires=self.enums(
                RefusalRequirement, entry["refusal_requires"], f"{where}.refusal_requires"
            ),
            refusal_basis=self.basis(entry["refusal_basis"], f"{where}.refusal_basis"),
            dispute_from=self.enums(AnswerKind, entry["dispute_from"], f"{where}.dispute_from"),
            dispute_steps=steps,
            dispute_basis=self.basis(entry["dispute_basis"], f"{where}.dispute_basis"),
        )

    def opening(self, data: object) -> Opening:
        entry = self.mapping(data, "opening", {"types", "default", "basis"}, {"note"})
        types = self.enums(OpenType, entry["types"], "opening.types")
        default = None
        if entry["default"] is not None:
            default = self.enum(OpenType, entry["default"], "opening.default")
            if default not in types:
                raise self.fail("opening.default", f"{default.value!r} is not in 'types'")
        note = self.text(entry["note"], "opening.note") if "note" in entry else ""
        return Opening(types, default, self.basis(entry["basis"], "opening.basis"), note)

    def subject(self, data: object) -> SubjectAuthorisation | None:
        if data is None:
            return None
        where = "subject_authorisation"
        entry = self.mapping(data, where, {"consent_required_for", "delegated_use_limits", "basis"})
        return SubjectAuthorisation(
            self.enums(ConsentMatter, entry["consent_required_for"], f"{where}.consent"),
            self.enums(DelegationLimit, entry["delegated_use_limits"], f"{where}.limits"),
            self.basis(entry["basis"], f"{where}.basis"),
        )

    def admission(self, data: object) -> CatalogAdmission | None:
        if data is None:
            return None
        where = "catalog_admission"
        entry = self.mapping(data, where, {"refused_sensitivities", "basis"}, {"note"})
        return CatalogAdmission(
            self.enums(
                Sensitivity, entry["refused_sensitivities"], f"{where}.refused_sensitivities"
            ),
            self.basis(entry["basis"], f"{where}.basis"),
            self.text(entry["note"], f"{where}.note") if "note" in entry else "",
        )

    def lifecycle(self, data: object) -> CatalogLifecycle:
        where = "catalog_lifecycle"
        entry = self.mapping(
            data,
            where,
            {"steps", "attribute_change_needs_bureau_consent", "basis"},
            {"attribute_change_basis", "filing", "withdrawal_notice", "full_maintenance"},
        )
        steps = self.enums(LifecycleStep, entry["steps"], f"{where}.steps")
        if not steps or steps[-1] is not LifecycleStep.PUBLISH:
            raise self.fail(f"{where}.steps", "the last step is publish")
        order = list(LifecycleStep)
        if [order.index(s) for s in steps] != sorted(order.index(s) for s in steps):
            raise self.fail(f"{where}.steps", "the bureau reviews before the government approves")
        flag = self.flag(
            entry["attribute_change_needs_bureau_consent"],
            f"{where}.attribute_change_needs_bureau_consent",
        )
        consent = ""
        if entry.get("attribute_change_basis") is not None:
            consent = self.basis(entry["attribute_change_basis"], f"{where}.attribute_change_basis")
        if flag and not consent:
            raise self.fail(f"{where}.attribute_change_basis", "cite the article of the consent")
        return CatalogLifecycle(
            steps,
            flag,
            self.basis(entry["basis"], f"{where}.basis"),
            attribute_change_basis=consent,
            filing=self.filing(entry.get("filing")),
            withdrawal_notice_basis=self.basis_of(
                entry.get("withdrawal_notice"), "withdrawal_notice"
            ),
            full_maintenance_basis=self.basis_of(entry.get("full_maintenance"), "full_maintenance"),
        )

    def filing(self, data: object) -> CatalogFiling | None:
        if data is None:
            return None
        where = "catalog_lifecycle.filing"
        entry = self.mapping(data, where, {"share_types", "basis"})
        return CatalogFiling(
            self.enums(ShareType, entry["share_types"], f"{where}.share_types"),
            self.basis(entry["basis"], f"{where}.basis"),
        )

    def basis_of(self, data: object, key: str) -> str:
        """``{basis: ...}`` under ``catalog_lifecycle.<key>``; null or absent: ''."""
        if data is None:
            return ""
        where = f"catalog_lifecycle.{key}"
        return self.basis(self.mapping(data, where, {"basis"})["basis"], f"{where}.basis")


def period_to_dict(p: Period) -> dict[str, Any]:
    """A period as JSON: amount, unit, when it starts, its basis, what it applies to."""
    return {
        "amount": p.amount,
        "unit": p.unit.value,
        "starts_from": p.starts_from.value,
        "basis": p.basis,
        "applies_to": list(p.applies_to),
    }


def profile_to_dict(profile: Profile) -> dict[str, Any]:
    """A JSON-ready view; every obligation name is present (null when the profile has none)."""
    obligations: dict[str, Any] = {}
    for name in OBLIGATION_NAMES:
        found = profile.obligation(name)
        obligations[name] = (
            None
            if found is None
            else {
                "periods": [period_to_dict(p) for p in found.periods],
                "cases": list(found.cases),
                "note": found.note or None,
            }
        )
    return {
        "id": profile.id,
        "title": profile.title,
        "texts": dict(profile.texts),
        "obligations": obligations,
        "sharing": _plain(profile.sharing),
        "opening": _plain(profile.opening),
        "subject_authorisation": _plain(profile.subject_authorisation),
        "catalog_lifecycle": _plain(profile.catalog_lifecycle),
        "catalog_admission": _plain(profile.catalog_admission),
        "city": _plain(profile.city),
        "source": profile.source,
    }


def _plain(value: object) -> Any:
    if value is None or isinstance(value, str | bool | int):
        return value.value if isinstance(value, StrEnum) else value
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    fields = getattr(value, "__dataclass_fields__", None)
    if fields is None:
        raise TypeError(f"cannot convert {type(value).__name__}")
    return {name: _plain(getattr(value, name)) for name in fields}


__all__ = [
    "OBLIGATION_NAMES",
    "PACKAGED_PROFILES_DIR",
    "PROFILES_DIR_ENV",
    "AnswerKind",
    "CatalogAdmission",
    "CatalogFiling",
    "CatalogLifecycle",
    "ConditionalScope",
    "ConsentMatter",
    "DeemedConsent",
    "DelegationLimit",
    "DisputeStep",
    "LifecycleStep",
    "Obligation",
    "OpenType",
    "Opening",
    "Period",
    "Profile",
    "ProfileSet",
    "RefusalRequirement",
    "ShareApplicationRules",
    "ShareType",
    "Sharing",
    "StartEvent",
    "SubjectAuthorisation",
    "ThirdPartyPassOn",
    "Unit",
    "load_profile",
    "load_profiles",
    "profile_to_dict",
    "profiles_dir_from_env",
]
