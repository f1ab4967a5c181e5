"""The kill test's events and what the pure domain makes of them.

Shared by the processor's kill test (tests/integration/topology/test_exactly_once.py) and
its run against the faust gate (:mod:`bench.faust_eos_kill`): ``events`` changes of the
name of 500 residents, in one entry: authoritative changes from the source, stopped
writes from a non-source, reports (confirmations and conflicts) from a third agency,
and ~10 % resends of an earlier event (same event id). :func:`replay` decides them with
:func:`exchange.gate.decide` in publish order, as the gate would.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from exchange.catalog import Catalog
from exchange.gate import GateResult, IncomingEvent, decide
from exchange.grants import Grant
from exchange.onesource import AuthoritativeRecord

SUBJECTS = 500
#: The demo's agencies that send: the source of the entry, a non-source, a reporter.
PROVIDERS = ("city-psb", "city-mca", "city-hc")
NAMES = ("张三", "李四", "王五")

#: (canonical subject, ChangeEvent record) in publish order.
Plan = list[tuple[str, dict[str, Any]]]


def resident_id(n: int, region: str = "110105") -> str:
    """A valid 18-digit resident ID (GB 11643 check digit) for person number ``n``."""
    body = f"{region}{1950 + n % 50:04d}{1 + n % 12:02d}{1 + n % 28:02d}{n % 1000:03d}"
    weights = [2 ** (17 - i) % 11 for i in range(17)]
    check = (12 - sum(int(c) * w for c, w in zip(body, weights, strict=True)) % 11) % 11
    return body + ("X" if check == 10 else str(check))


def change_event(  # noqa: PLR0913 - the record's subject, what changes, and who says so
    entry: str,
    provider: str,
    number: str,
    items: Mapping[str, str | None],
    *,
    operation: str = "update",
    authoritative: bool = True,
    sequence: int = 1,
    source_system: str = "kill-test",
) -> dict[str, Any]:
    """A ChangeEvent record (a new event id, now) setting the ``items`` of resident
    ``number``, ``sequence``-th of its source system (a source's later change has a higher
    sequence; GM 22). The bench's one builder of what an agency's publisher sends, and the
    broker tests' (tests.support.scenario.event)."""
    return {
        "event_id": str(uuid.uuid4()),
        "entry": entry,
        "provider": provider,
        "subject_key": number,
        "subject_kind": "resident_id",
        "operation": operation,
        "authoritative": authoritative,
        "items": [{"name": k, "before": None, "after": v} for k, v in items.items()],
        "source_system": source_system,
        "event_time": datetime.now(UTC),
        "source_sequence": sequence,
        "trace_id": None,
        "legal_basis": None,
    }


def plan(entry: str, providers: Sequence[str], events: int, rng: random.Random) -> Plan:
    """``events`` sends to ``entry`` from ``providers`` (source, non-source, reporter)."""
    source, other, reporter = providers
    sent: Plan = []
    for i in range(1, events + 1):
        number = resident_id(rng.randrange(SUBJECTS))
        key = f"resident_id:{number}"
        roll = rng.random()
        if roll < 0.1 and sent:
            sent.append(rng.choice(sent))  # a resend: the same event id again
        elif roll < 0.65:
            name = rng.choice(NAMES)
            sent.append((key, change_event(entry, source, number, {"name": name}, sequence=i)))
        elif roll < 0.75:
            name = rng.choice(NAMES)
            sent.append((key, change_event(entry, other, number, {"name": name}, sequence=i)))
        else:
            name = rng.choice(NAMES)
            report = change_event(
                entry, reporter, number, {"name": name}, authoritative=False, sequence=i
            )
            sent.append((key, report))
    return sent


def replay(
    catalog: Catalog, grants: Sequence[Grant], entry: str, sent: Plan, now: datetime
) -> list[GateResult]:
    """What the gate decides for each send, in publish order (one-source state carried)."""
    states: dict[str, dict[str, AuthoritativeRecord]] = {}
    results = []
    for key, e in sent:
        incoming = IncomingEvent.from_record(e, key.encode())
        result = decide(incoming, entry, catalog, tuple(grants), states.get(key, {}), now)
        states[key] = {**states.get(key, {}), **result.refreshed, **result.new_states}
        results.append(result)
    return results
