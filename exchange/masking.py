"""Desensitisation (脱敏) of data items, driven by ``masking_rules.yaml`` (GM 9, G 18, J 14).

A masking *profile* maps each item tag (and each subject key kind) to a named rule; the
profile a consumer gets is chosen by consumer kind (``share`` / ``open``) and the entry's
sensitivity. Every rule is safe to apply twice: masking a masked value gives the same
value, so nothing more is revealed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from functools import lru_cache
from importlib.resources import files
from typing import Any

import yaml

from base.errors import PolicyError
from exchange.catalog import ItemTag, ItemValue, KeyKind, Sensitivity

RULES_RESOURCE = "masking_rules.yaml"
RULES_VERSION = 1
_CODE = "invalid_masking_rules"
_ARTICLE = "GM 9"
_YEAR = re.compile(r"^(\d{4})")
_TOP_KEYS = {"version", "rules", "profiles", "subject_keys", "selection"}


class ConsumerKind(StrEnum):
    """Who receives: an agency under sharing, or the public open feed."""

    SHARE = "share"
    OPEN = "open"


class MaskMethod(StrEnum):
    """How a rule transforms a value."""

    KEEP = "keep"
    DROP = "drop"
    KEEP_ENDS = "keep_ends"
    SURNAME = "surname"
    DISTRICT = "district"
    YEAR = "year"


@dataclass(frozen=True, slots=True)
class MaskRule:
    """One named masking rule and its parameters."""

    name: str
    method: MaskMethod
    fill: str = "*"
    keep_prefix: int = 0
    keep_suffix: int = 0
    compound_surnames: tuple[str, ...] = ()
    division_markers: tuple[tuple[str, int], ...] = ()
    stop_markers: tuple[str, ...] = ()

    @property
    def drops(self) -> bool:
        """The item is removed rather than transformed."""
        return self.method is MaskMethod.DROP

    @property
    def changes(self) -> bool:
        """The rule alters or removes values (worth recording in the audit)."""
        return self.method is not MaskMethod.KEEP


def _text(value: ItemValue) -> str:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


def _keep_ends(rule: MaskRule, text: str) -> str:
    shown = rule.keep_prefix + rule.keep_suffix
    if len(text) <= shown:
        return rule.fill * len(text)
    tail = text[len(text) - rule.keep_suffix :] if rule.keep_suffix else ""
    return text[: rule.keep_prefix] + rule.fill * (len(text) - shown) + tail


def _surname(rule: MaskRule, text: str) -> str:
    if not text:
        return text
    for compound in rule.compound_surnames:
        if text.startswith(compound) and len(text) > len(compound):
            return compound + rule.fill
    return text[0] + rule.fill


def _district(rule: MaskRule, text: str) -> str:
    stops = [text.find(m) for m in rule.stop_markers if m in text]
    end = min(stops, default=len(text))
    prefix = text[:end]
    minimum = dict(rule.division_markers)
    cuts: list[int] = []
    segment_start = 0
    for index, char in enumerate(prefix):
        need = minimum.get(char)
        if need is not None and index - segment_start >= need:
            cuts.append(index + 1)
            segment_start = index + 1
    if cuts and end < len(text) and cuts[-1] == end:
        cuts.pop()  # a "区" glued to a street word is part of the street's name
    return prefix[: cuts[-1]] if cuts else rule.fill


def _year(rule: MaskRule, value: ItemValue) -> str:
    if isinstance(value, datetime | date):
        return f"{value.year:04d}"
    match = _YEAR.match(_text(value))
    return match.group(1) if match else rule.fill


def apply_rule(rule: MaskRule, value: ItemValue) -> ItemValue:
    """The masked value (None stays None). For a dropping rule, returns None: callers
    check :attr:`MaskRule.drops` and leave the item out."""
    if value is None or rule.method is MaskMethod.DROP:
        return None
    if rule.method is MaskMethod.KEEP:
        return value
    if rule.method is MaskMethod.YEAR:
        return _year(rule, value)
    text = _text(value)
    if rule.method is MaskMethod.KEEP_ENDS:
        return _keep_ends(rule, text)
    if rule.method is MaskMethod.SURNAME:
        return _surname(rule, text)
    return _district(rule, text)


@dataclass(frozen=True, slots=True)
class MaskingRules:
    """The loaded rule file."""

    rules: Mapping[str, MaskRule]
    profiles: Mapping[str, Mapping[ItemTag, str]]
    subject_keys: Mapping[str, Mapping[KeyKind, str]]
    selection: Mapping[ConsumerKind, Mapping[Sensitivity, str | None]]

    def profile_for(self, consumer: ConsumerKind, sensitivity: Sensitivity) -> str | None:
        """The masking profile of ``consumer`` for data of ``sensitivity``; None: never."""
        if consumer is ConsumerKind.OPEN and sensitivity is Sensitivity.SECRET:
            return None  # GM 9; G 18 (一): whatever the file says
        return self.selection[consumer][sensitivity]

    def item_rule(self, profile: str, tag: ItemTag) -> MaskRule:
        """The rule for items tagged ``tag`` under ``profile``."""
        return self.rules[self.profiles[profile][tag]]

    def subject_rule(self, profile: str, key_kind: KeyKind) -> MaskRule:
        """The rule for the subject key under ``profile``."""
        return self.rules[self.subject_keys[profile][key_kind]]


def _bad(message: str) -> PolicyError:
    return PolicyError(f"masking rules: {message}", code=_CODE, article=_ARTICLE)


def _mapping(raw: object, where: str) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise _bad(f"{where} must be a mapping")
    return raw


_RULE_KEYS = {
    "method",
    "fill",
    "keep_prefix",
    "keep_suffix",
    "compound_surnames",
    "division_markers",
    "stop_markers",
}


def _rule(name: str, raw: object) -> MaskRule:
    body = _mapping(raw, f"rule {name}")
    unknown = set(body) - _RULE_KEYS
    if unknown:
        raise _bad(f"rule {name}: unknown keys {sorted(unknown)}")
    try:
        method = MaskMethod(body["method"])
        rule = MaskRule(
            name=name,
            method=method,
            fill=str(body.get("fill", "*")),
            keep_prefix=int(body.get("keep_prefix", 0)),
            keep_suffix=int(body.get("keep_suffix", 0)),
            compound_surnames=tuple(str(s) for s in body.get("compound_surnames", ())),
            division_markers=tuple(
                (str(k), int(v))
                for k, v in _mapping(body.get("division_markers", {}), name).items()
            ),
            stop_markers=tuple(str(s) for s in body.get("stop_markers", ())),
        )
    except (KeyError, ValueError, TypeError) as exc:
        raise _bad(f"rule {name}: {exc}") from exc
    if method is MaskMethod.KEEP_ENDS and (
        len(rule.fill) != 1 or min(rule.keep_prefix, rule.keep_suffix) < 0
    ):
        raise _bad(f"rule {name}: keep_ends needs a one-character fill and counts >= 0")
    if method is MaskMethod.DISTRICT and not rule.division_markers:
        raise _bad(f"rule {name}: district needs division_markers")
    return rule


def _table(
    raw: object, where: str, keys: type[StrEnum], rules: Mapping[str, MaskRule]
) -> dict[Any, str]:
    body = _mapping(raw, where)
    expected = {k.value for k in keys}
    if set(body) != expected:
        raise _bad(f"{where} must map exactly {sorted(expected)}")
    missing = sorted(str(v) for v in body.values() if v not in rules)
    if missing:
        raise _bad(f"{where} names unknown rules {missing}")
    return {keys(k): str(v) for k, v in body.items()}


def parse_masking_rules(text: str) -> MaskingRules:
    """Parse and check a masking rule file; :class:`PolicyError` on any problem."""
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise _bad(f"not YAML: {exc}") from exc
    top = _mapping(raw, "file")
    if set(top) != _TOP_KEYS:
        raise _bad(f"top-level keys must be {sorted(_TOP_KEYS)}; got {sorted(top)}")
    if top["version"] != RULES_VERSION:
        raise _bad(f"unsupported version {top['version']!r}")
    rules = {
        str(name): _rule(str(name), body) for name, body in _mapping(top["rules"], "rules").items()
    }
    profiles = {
        str(p): _table(body, f"profile {p}", ItemTag, rules)
        for p, body in _mapping(top["profiles"], "profiles").items()
    }
    subject_keys = {
        str(p): _table(body, f"subject_keys {p}", KeyKind, rules)
        for p, body in _mapping(top["subject_keys"], "subject_keys").items()
    }
    if set(subject_keys) != set(profiles):
        raise _bad("subject_keys must cover exactly the profiles")
    selection = _selection(top["selection"], profiles)
    if selection[ConsumerKind.OPEN][Sensitivity.SECRET] is not None:
        raise _bad("secret data must never reach the open feed (GM 9; G 18 (一))")
    return MaskingRules(rules, profiles, subject_keys, selection)


def _selection(
    raw: object, profiles: Mapping[str, object]
) -> dict[ConsumerKind, dict[Sensitivity, str | None]]:
    """Which profile (or none) each kind of consumer gets at each sensitivity."""
    sel = _mapping(raw, "selection")
    if set(sel) != {c.value for c in ConsumerKind}:
        raise _bad("selection must cover share and open")
    selection: dict[ConsumerKind, dict[Sensitivity, str | None]] = {}
    for consumer, body in sel.items():
        table = _mapping(body, f"selection {consumer}")
        if set(table) != {s.value for s in Sensitivity}:
            raise _bad(f"selection {consumer} must cover public, internal, secret")
        for profile in table.values():
            if profile is not None and profile not in profiles:
                raise _bad(f"selection {consumer} names unknown profile {profile!r}")
        selection[ConsumerKind(consumer)] = {
            Sensitivity(s): (None if p is None else str(p)) for s, p in table.items()
        }
    return selection


@lru_cache(maxsize=1)
def default_masking_rules() -> MaskingRules:
    """The rules shipped with govbus (``exchange/masking_rules.yaml``)."""
    text = files("exchange").joinpath(RULES_RESOURCE).read_text(encoding="utf-8")
    return parse_masking_rules(text)
