"""The minimal job the framework peers run, with the project's own domain functions.

Per ingest record: decode the ChangeEvent (Avro single-object), check the subject key
(:func:`exchange.identity.check`) and that the message key is the canonical subject,
mask the open-feed copy with the ``desensitised`` profile (:mod:`exchange.masking`), and
fan out the same feed payloads govbus delivers: three agencies with every item, two with
their granted subsets, the open feed masked; five agency topics and the open topic, in that
order. The open topic is the scenario's own (``Scenario.peer_open_topic``), not the bus's
open feed that every entry shares: a peer is not govbus. Each distinct payload is encoded
once (FeedRecord). No one-source state, no receipts, no audit, no changelog: that is what
govbus does on top.

The job's settings come from a JSON file written by :func:`write_spec`, so peer processes
need nothing else.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from base.errors import SchemaError
from bench.scenario import ITEMS, Scenario
from exchange.catalog import ItemTag, KeyKind
from exchange.identity import IdentityKind, check
from exchange.masking import MaskRule, apply_rule, default_masking_rules
from schemas import decode, encode

OPEN_PROFILE = "desensitised"
Output = tuple[str, bytes, bytes]


def write_spec(scenario: Scenario, path: Path) -> Path:
    grants = scenario.grants()
    spec = {
        "ingest": scenario.ingest_topic,
        "routes": [
            {"topic": topic, "items": list(grants[agency])}
            for agency, topic in zip(scenario.consumers, scenario.feed_topics, strict=True)
        ],
        "open": scenario.peer_open_topic,
    }
    path.write_text(json.dumps(spec, ensure_ascii=False), encoding="utf-8")
    return path


@dataclass(frozen=True)
class Route:
    topic: str
    items: frozenset[str]


class PeerJob:
    """Decode, check the key, mask, fan out (see the module docstring)."""

    def __init__(self, spec_path: Path) -> None:
        spec = json.loads(spec_path.read_text(encoding="utf-8"))
        self.ingest: str = spec["ingest"]
        self.routes = tuple(Route(r["topic"], frozenset(r["items"])) for r in spec["routes"])
        self.open_topic: str = spec["open"]
        rules = default_masking_rules()
        self.item_rules: dict[str, MaskRule] = {
            name: rules.item_rule(OPEN_PROFILE, ItemTag(tag)) for name, _, _, tag in ITEMS
        }
        self.subject_rule = rules.subject_rule(OPEN_PROFILE, KeyKind.RESIDENT_ID)
        self.rejected = 0

    def __call__(self, key: bytes | None, value: bytes) -> list[Output]:
        try:
            raw = decode("ChangeEvent", value)
        except SchemaError:
            self.rejected += 1
            return []
        checked = check(raw["subject_key"], IdentityKind.RESIDENT_ID)
        subject = f"resident_id:{checked.normalized}"
        if not checked.valid or key != subject.encode():
            self.rejected += 1
            return []
        values = {i["name"]: i["after"] for i in raw["items"]}
        now = datetime.now(UTC)
        out: list[Output] = []
        encoded: dict[frozenset[str], bytes] = {}
        for route in self.routes:
            payload = encoded.get(route.items)
            if payload is None:
                items: list[tuple[str, Any, str | None]] = [
                    (n, values[n], None) for n in sorted(route.items) if n in values
                ]
                payload = encoded[route.items] = self._encode(raw, subject, items, now)
            out.append((route.topic, subject.encode(), payload))
        masked_subject = f"resident_id:{apply_rule(self.subject_rule, checked.normalized)}"
        masked: list[tuple[str, Any, str | None]] = []
        for name in sorted(values):
            rule = self.item_rules[name]
            if not rule.drops:
                changed = rule.name if rule.changes else None
                masked.append((name, apply_rule(rule, values[name]), changed))
        out.append(
            (
                self.open_topic,
                masked_subject.encode(),
                self._encode(raw, masked_subject, masked, now),
            )
        )
        return out

    @staticmethod
    def _encode(
        raw: dict[str, Any], subject: str, items: list[tuple[str, Any, str | None]], at: datetime
    ) -> bytes:
        return encode(
            "FeedRecord",
            {
                "event_id": raw["event_id"],
                "entry": raw["entry"],
                "canonical_subject": subject,
                "operation": raw["operation"],
                "items": [
                    {
                        "name": name,
                        "value": None if v is None else str(v),
                        "masked": rule is not None,
                        "mask_rule": rule,
                    }
                    for name, v, rule in items
                ],
                "provider": raw["provider"],
                "event_time": raw["event_time"],
                "delivered_at": at,
                "grant_id": None,
                "purpose": None,
            },
        )
