"""The demo catalog's entries and agencies, looked up by id for tests of the domain."""

from __future__ import annotations

from exchange.catalog import CatalogEntry
from exchange.catalog_loader import load_catalog
from exchange.grants import Agency
from tests.support.scenario import DEMO

DEMO_CATALOG = load_catalog(DEMO).catalog


def demo_entry(entry_id: str) -> CatalogEntry:
    """The demo catalog's entry ``entry_id`` (it must be there)."""
    found = DEMO_CATALOG.entry(entry_id)
    assert found is not None, entry_id
    return found


def demo_agency(agency_id: str) -> Agency:
    """The demo catalog's agency ``agency_id`` (it must be there)."""
    found = DEMO_CATALOG.agency(agency_id)
    assert found is not None, agency_id
    return found
