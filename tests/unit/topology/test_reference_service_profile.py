"""The reference service (what ``govbus catalog import`` and later the HTTP API use)
applies the bus's jurisdiction profile itself, whatever its caller checked: a Guiyang bus
refuses a 涉密 entry (GM 24), a Jinan bus a sharing entry (J 2), before anything is
stored or published. The store is a SQLite file; no broker is contacted."""

from __future__ import annotations

from pathlib import Path

import pytest

from base.errors import CatalogError
from exchange.catalog_loader import check_catalog_file
from exchange.profiles import load_profiles
from storage import migrate
from storage.engine import make_engine
from storage.reference import ReferenceStore
from tests.support.scenario import DEMO
from topology.reference_service import ReferenceService

PROFILES = load_profiles()
UNREACHABLE = "127.0.0.1:9"


@pytest.fixture
def store(tmp_path: Path) -> ReferenceStore:
    url = f"sqlite:///{tmp_path / 'govbus.db'}"
    migrate.upgrade(url)
    return ReferenceStore(make_engine(url))


@pytest.mark.parametrize(
    ("profile_id", "code", "article", "entry"),
    [
        ("guiyang-2021", "sensitivity_not_admitted", "GM 24", "psb.person.watchlist"),
        ("guiyang-2017", "sensitivity_not_admitted", "GM 24", "psb.person.watchlist"),
        ("jinan-2024", "share_type_not_allowed", "J 2", "psb.person.basic"),
    ],
)
def test_the_profile_refuses_before_anything_is_stored(
    store: ReferenceStore, profile_id: str, code: str, article: str, entry: str
) -> None:
    checked = check_catalog_file(DEMO)  # the caller checked without a profile
    assert checked.valid
    service = ReferenceService(store, UNREACHABLE, profile=PROFILES.get(profile_id))
    with pytest.raises(CatalogError) as info:
        service.import_catalog(checked)
    assert (info.value.code, info.value.article) == (code, article)
    assert entry in str(info.value) and article in str(info.value)
    assert any("more entry issue" in note for note in info.value.__notes__)
    assert store.list_entries() == [] and store.list_agencies() == []
