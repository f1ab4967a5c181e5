"""Who received a subject's data, from the audit records (schemas.audit.trail; G 17, S 29,
S 43): Decision v5 records (one per event, its deliveries listed) and the per-delivery
records written before v5, read as the current version."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from exchange.grants import GrantUse
from schemas import decode, default_registry, encode
from schemas.audit.trail import AuditedDelivery, deliveries_of, subject_trail

AT = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)
ENTRY = "psb.person.contact"
SUBJECT = "resident_id:11010519491231002X"
OTHER = "resident_id:110105194912310029"
MASKED = "resident_id:110105********002X"


def _record(kind: str, subject: str, event_id: str, **fields: Any) -> dict[str, Any]:
    return {
        "audit_id": str(uuid.uuid4()),
        "kind": kind,
        "event_id": event_id,
        "entry": ENTRY,
        "provider": "city-psb",
        "canonical_subject": subject,
        "reason_code": None,
        "article": None,
        "recipient": None,
        "grant_id": None,
        "purpose": None,
        "grants": [],
        "items_delivered": [],
        "masked_items": [],
        "deliveries": [],
        "occurred_at": AT,
        "chain": f"govbus.ingest.{ENTRY}/0",
        "seq": 1,
        "prev_hash": None,
        "record_hash": None,
        **fields,
    }


def v5(subject: str, event_id: str) -> dict[str, Any]:
    """An accepted change's one record, as the processor writes it since v5."""
    deliveries = [
        {
            "recipient": "city-mca",
            "topic": "govbus.feed.city-mca",
            "items": ["household_address", "phone"],
            "masked_items": [],
            "subject_rule": None,
            "grants": [
                {"grant_id": "grant-a", "purpose": "低保核对", "items": ["household_address"]},
                {"grant_id": "grant-b", "purpose": "走访", "items": ["household_address", "phone"]},
            ],
        },
        {
            "recipient": "open",
            "topic": f"govbus.open.{ENTRY}",
            "items": ["household_address"],
            "masked_items": [{"name": "household_address", "rule": "keep_district"}],
            "subject_rule": "id_middle",
            "grants": [],
        },
    ]
    record = _record("accepted", subject, event_id, deliveries=deliveries)
    return decode("Decision", encode("Decision", record))


def v4(kind: str, subject: str, event_id: str, **fields: Any) -> dict[str, Any]:
    """A record as Decision v4 wrote it (one per delivery), read as the current version."""
    record = {k: v for k, v in _record(kind, subject, event_id, **fields).items()}
    del record["deliveries"]
    return decode("Decision", default_registry().encode("Decision", record, version=4))


def test_a_v5_record_lists_every_delivery_with_its_grants_and_masking() -> None:
    event = str(uuid.uuid4())
    mca, opened = deliveries_of(v5(SUBJECT, event))
    assert mca == AuditedDelivery(
        recipient="city-mca",
        topic="govbus.feed.city-mca",
        items=("household_address", "phone"),
        masked=(),
        subject_rule=None,
        grants=(
            GrantUse("grant-a", "低保核对", ("household_address",)),
            GrantUse("grant-b", "走访", ("household_address", "phone")),
        ),
    )
    assert (opened.recipient, opened.topic, opened.grants) == ("open", f"govbus.open.{ENTRY}", ())
    assert opened.masked == (("household_address", "keep_district"),)
    assert opened.subject_rule == "id_middle"


def test_an_old_per_delivery_record_is_one_delivery_and_other_kinds_none() -> None:
    event = str(uuid.uuid4())
    grants = [{"grant_id": "grant-a", "purpose": "低保核对", "items": ["phone"]}]
    old = v4(
        "delivery",
        SUBJECT,
        event,
        recipient="city-mca",
        grant_id="grant-a",
        purpose="低保核对",
        grants=grants,
        items_delivered=["phone"],
    )
    assert deliveries_of(old) == (
        AuditedDelivery(
            "city-mca",
            "govbus.feed.city-mca",
            ("phone",),
            (),
            None,
            (GrantUse("grant-a", "低保核对", ("phone",)),),
        ),
    )
    # Before v4 a grant was named by id and purpose only: it entitles what was delivered.
    older = v4("delivery", SUBJECT, event, recipient="city-hc", grant_id="g-1", purpose="p")
    older["items_delivered"] = ["phone", "name"]
    [hc] = deliveries_of(older)
    assert hc.grants == (GrantUse("g-1", "p", ("name", "phone")),)
    opened = v4("open_delivery", MASKED, event, recipient="open", items_delivered=["phone"])
    [o] = deliveries_of(opened)
    assert (o.recipient, o.topic) == ("open", f"govbus.open.{ENTRY}")
    for kind in ("accepted", "rejected", "dead_letter", "stale"):
        assert deliveries_of(v4(kind, SUBJECT, event)) == ()


def test_subject_trail_names_every_recipient_of_the_subject_in_old_and_new_records() -> None:
    """Records of both generations in one topic: the subject's deliveries, the open feed's
    old record included (it carried the masked key), another subject's left out."""
    old_event, new_event, other_event = (str(uuid.uuid4()) for _ in range(3))
    records = [
        v4("accepted", SUBJECT, old_event),
        v4("delivery", SUBJECT, old_event, recipient="city-hc", items_delivered=["phone"]),
        v4("open_delivery", MASKED, old_event, recipient="open", items_delivered=["phone"]),
        v4("delivery", OTHER, other_event, recipient="city-amr", items_delivered=["phone"]),
        v5(OTHER, other_event),
        v5(SUBJECT, new_event),
    ]
    trail = subject_trail(records, SUBJECT)
    assert [(t.event_id, t.delivery.recipient) for t in trail] == [
        (old_event, "city-hc"),
        (old_event, "open"),
        (new_event, "city-mca"),
        (new_event, "open"),
    ]
    assert {(t.entry, t.provider, t.occurred_at, t.chain) for t in trail} == {
        (ENTRY, "city-psb", AT, f"govbus.ingest.{ENTRY}/0")
    }
    assert subject_trail(records, "resident_id:nobody") == ()
    assert subject_trail(iter(records), SUBJECT) == trail  # any iterable, read once
