"""A feed record is encoded once per grant class; the grants that entitle a recipient's
items (ids, purposes, the items each covers; FeedRecord v2) are set on those bytes
(schemas.tail). The result must be exactly what a full encode of the record with those
grants gives (G 14, S 22: conditional shares carry their grants; G 17, S 29: and the
purposes they were given for)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from base.errors import EncodingError, SchemaError
from schemas import decode, default_registry, encode
from schemas.tail import set_tail
from tests.support.avro import SAMPLES

GRANT = ("grant_id", "purpose", "grants")
UNGRANTED: dict[str, Any] = {"grant_id": None, "purpose": None, "grants": []}

optional_text = st.none() | st.text(max_size=300)
grant_uses = st.lists(
    st.fixed_dictionaries(
        {
            "grant_id": st.text(max_size=80),
            "purpose": st.text(max_size=200),
            "items": st.lists(st.text(max_size=20), max_size=5),
        }
    ),
    max_size=4,
)


@settings(max_examples=300, deadline=None)
@given(grant_id=optional_text, purpose=optional_text, grants=grant_uses)
def test_setting_the_grants_gives_the_bytes_of_a_full_encode(
    grant_id: str | None, purpose: str | None, grants: list[dict[str, Any]]
) -> None:
    set_grant = default_registry().tail_writer("FeedRecord", GRANT)
    record = dict(SAMPLES["FeedRecord"])
    base = encode("FeedRecord", {**record, **UNGRANTED})
    tail = {"grant_id": grant_id, "purpose": purpose, "grants": grants}
    full = encode("FeedRecord", {**record, **tail})
    spliced = set_grant(base, tail)
    assert spliced == full
    got = decode("FeedRecord", spliced)
    assert {k: got[k] for k in GRANT} == tail


def test_long_strings_cross_the_one_byte_length() -> None:
    """Lengths of 64+ bytes take two varint bytes (zig-zag doubles them)."""
    set_grant = default_registry().tail_writer("FeedRecord", GRANT)
    record = {**SAMPLES["FeedRecord"], **UNGRANTED}
    base = encode("FeedRecord", record)
    for n in (63, 64, 8191, 8192):
        value = "x" * n
        uses = [{"grant_id": value, "purpose": "社保" * n, "items": ["住址"] * n}]
        tail = {"grant_id": value, "purpose": "社保" * n, "grants": uses}
        assert set_grant(base, tail) == encode("FeedRecord", {**record, **tail})


def test_only_trailing_fields_with_defaults_can_be_set() -> None:
    registry = default_registry()
    with pytest.raises(SchemaError, match="last fields"):
        registry.tail_writer("FeedRecord", ("purpose", "grant_id", "grants"))  # order matters
    with pytest.raises(SchemaError, match="last fields"):
        registry.tail_writer("FeedRecord", ("delivered_at", "grant_id", "purpose", "grants"))
    with pytest.raises(SchemaError, match="last fields"):
        registry.tail_writer("Receipt", GRANT)
    with pytest.raises(SchemaError, match="last fields"):
        registry.tail_setter("FeedRecord", ("grant_id", "purpose"))  # no longer the last


def test_a_record_whose_tail_is_not_at_its_defaults_is_refused() -> None:
    set_grant = default_registry().tail_writer("FeedRecord", GRANT)
    granted = encode("FeedRecord", dict(SAMPLES["FeedRecord"]))
    with pytest.raises(EncodingError, match="defaults"):
        set_grant(granted, {"grant_id": "g"})


def test_trailing_optional_strings_are_still_set_in_place() -> None:
    """The audit seal's primitive: optional strings or bytes, set without encoding again."""
    with pytest.raises(EncodingError, match="null"):
        set_tail(b"\xc3\x01abc\x01", ("g",))
    assert set_tail(b"\xc3\x01abc\x00", ("g",)) == b"\xc3\x01abc\x02\x02g"
