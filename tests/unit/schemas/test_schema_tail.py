"""A feed record is encoded once per grant class; each conditional grant's id and purpose
are appended to those bytes (schemas.tail). The result must be exactly what a full encode
of the record with that grant gives (G 14, S 22: conditional shares carry their grant;
S 29: and the purpose it was given for)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from base.errors import EncodingError, SchemaError
from schemas import decode, default_registry, encode
from schemas.tail import set_tail
from tests.support.avro import SAMPLES

GRANT = ("grant_id", "purpose")


optional_text = st.none() | st.text(max_size=300)


@settings(max_examples=300, deadline=None)
@given(grant_id=optional_text, purpose=optional_text)
def test_appending_a_grant_gives_the_bytes_of_a_full_encode(
    grant_id: str | None, purpose: str | None
) -> None:
    set_grant = default_registry().tail_setter("FeedRecord", GRANT)
    record = dict(SAMPLES["FeedRecord"])
    base = encode("FeedRecord", {**record, "grant_id": None, "purpose": None})
    full = encode("FeedRecord", {**record, "grant_id": grant_id, "purpose": purpose})
    spliced = set_grant(base, (grant_id, purpose))
    assert spliced == full
    got = decode("FeedRecord", spliced)
    assert (got["grant_id"], got["purpose"]) == (grant_id, purpose)


def test_long_strings_cross_the_one_byte_length() -> None:
    """Lengths of 64+ bytes take two varint bytes (zig-zag doubles them)."""
    set_grant = default_registry().tail_setter("FeedRecord", GRANT)
    record = {**SAMPLES["FeedRecord"], "grant_id": None, "purpose": None}
    base = encode("FeedRecord", record)
    for n in (63, 64, 8191, 8192):
        value = "x" * n
        full = encode("FeedRecord", {**record, "grant_id": value, "purpose": "社保" * n})
        assert set_grant(base, (value, "社保" * n)) == full


def test_only_trailing_optional_strings_can_be_set() -> None:
    registry = default_registry()
    with pytest.raises(SchemaError, match="last fields"):
        registry.tail_setter("FeedRecord", ("purpose", "grant_id"))  # order matters
    with pytest.raises(SchemaError, match="last fields"):
        registry.tail_setter("FeedRecord", ("delivered_at", "grant_id", "purpose"))
    with pytest.raises(SchemaError, match="last fields"):
        registry.tail_setter("Receipt", GRANT)


def test_a_record_whose_tail_is_not_null_is_refused() -> None:
    granted = encode("FeedRecord", dict(SAMPLES["FeedRecord"]))
    with pytest.raises(EncodingError, match="null"):
        set_tail(granted, ("g", "p"))
