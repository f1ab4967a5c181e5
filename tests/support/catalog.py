"""The demo catalog's entries and agencies, looked up by id for tests of the domain."""

from __future__ import annotations

from datetime import date

from exchange.catalog import CatalogEntry, ItemValue
from exchange.catalog_loader import load_catalog
from exchange.grants import Agency
from tests.support.scenario import DEMO

DEMO_CATALOG = load_catalog(DEMO).catalog
#: A resident of the demo scenario (resident id) and the items of ``psb.person.basic``
#: its provider publishes for them.
PERSON = "52010219900101123X"
PERSON_VALUES: dict[str, ItemValue] = {
    "id_number": PERSON,
    "name": "欧阳修文",
    "gender": "男",
    "birth_date": date(1990, 1, 1),
    "marital_status": "已婚",
}


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
