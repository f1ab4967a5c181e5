"""Reference data's state-topic documents round-trip through the catalog loader, and a
view without a broker fails in time (G 14, G 15, S 22, S 25, GM 9, GM 13, GM 22).

The flow through the SQL store and the real broker is tested in
tests/integration/topology/test_reference_data.py.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from base.errors import KafkaError, SchemaError
from consumers.reference import ReferenceView
from exchange.catalog import LEGAL_TZ, Agency, AgencyKind
from exchange.catalog_loader import check_catalog_data, check_catalog_text, load_catalog
from exchange.grants import Grant
from schemas.state import agency_document, encode, entry_document, grant_document, state_topics
from tests.support.scenario import DEMO

# -- documents: the state values round-trip through the loader -----------------------------
_text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1).filter(
    lambda s: s.strip() == s and s.strip() != ""
)


def _demo_documents() -> dict[str, list[dict[str, object]]]:
    catalog = load_catalog(DEMO).catalog
    assert catalog is not None
    return {
        "agencies": [agency_document(a) for a in catalog.agencies],
        "entries": [entry_document(e) for e in catalog.entries],
    }


# The demo catalog's agencies and entries, as the grants' documents are checked against them.
_DEMO_DOCUMENTS = _demo_documents()

_moment = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)


@given(
    ident=st.from_regex(r"[a-z][a-z0-9-]{0,20}", fullmatch=True),
    name=_text,
    name_zh=_text,
    kind=st.sampled_from(AgencyKind),
)
def test_agency_documents_round_trip(ident: str, name: str, name_zh: str, kind: AgencyKind) -> None:
    agency = Agency(ident, name, name_zh, kind)
    doc = json.loads(encode(agency_document(agency)))
    result = check_catalog_data({"version": 1, "name": "n", "agencies": [doc], "entries": []})
    assert result.catalog is not None and result.catalog.agencies == (agency,)


@given(
    items=st.frozensets(st.sampled_from(["household_address", "phone"]), min_size=1),
    start=_moment,
    length=st.one_of(st.none(), st.timedeltas(timedelta(seconds=1), timedelta(days=3000))),
    revoked=st.one_of(st.none(), _moment),
    purpose=_text,
    basis=_text,
)
def test_grant_documents_round_trip(
    items: frozenset[str],
    start: datetime,
    length: timedelta | None,
    revoked: datetime | None,
    purpose: str,
    basis: str,
) -> None:
    """What the writer puts on the grants topic is what the reader gets back (G 15, S 22)."""
    grant = Grant(
        "g-1",
        "city-hc",
        "psb.person.contact",
        items,
        "city-psb",
        purpose,
        basis,
        start.astimezone(LEGAL_TZ),
        None if length is None else start + length,
        revoked,
    )
    doc = json.loads(encode(grant_document(grant)))
    result = check_catalog_data(
        {
            "version": 1,
            "name": "n",
            **_DEMO_DOCUMENTS,
            "grants": [doc],
        }
    )
    assert result.issues == () and result.grants == (grant,)


def test_entry_documents_round_trip_every_demo_entry() -> None:
    """Withdrawal dates, bases, open conditions and per-item providers survive (S 27 ¶2,
    S 23, J 8 ¶5, GM 22)."""
    catalog = load_catalog(DEMO).catalog
    doc = json.loads(
        encode(
            {
                "version": 1,
                "name": catalog.name,
                "agencies": [agency_document(a) for a in catalog.agencies],
                "entries": [entry_document(e) for e in catalog.entries],
            }
        )
    )
    assert check_catalog_data(doc).catalog == catalog


def test_check_catalog_data_reports_what_check_catalog_text_reports() -> None:
    text = DEMO.read_text(encoding="utf-8").replace("provider: city-psb", "provider: nobody", 1)
    import yaml

    assert check_catalog_data(yaml.safe_load(text)).issues == check_catalog_text(text).issues
    assert check_catalog_data(["not", "a", "mapping"]).issues[0].code == "invalid_value"


# -- topics ---------------------------------------------------------------------------------
def test_state_topic_names_and_namespace() -> None:
    assert state_topics().names == (
        "govbus.state.agencies",
        "govbus.state.catalog",
        "govbus.state.grants",
        "govbus.state.subscriptions",  # G 15 ¶1, S 25 ¶1
    )
    assert state_topics("t1").grants == "govbus.state.t1.grants"
    with pytest.raises(SchemaError):
        state_topics("no spaces")


def test_view_without_a_broker_raises_a_govbus_error_in_time() -> None:
    started = time.monotonic()
    with ReferenceView("127.0.0.1:1", namespace="nobroker") as view, pytest.raises(KafkaError):
        view.refresh(timeout_s=0.5)
    assert view.snapshot.version == 0 and time.monotonic() - started < 10
