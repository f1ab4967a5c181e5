"""operations.broker.sizing: the partition model follows the topic policies."""

from __future__ import annotations

from pathlib import Path

import pytest

from operations.broker.local import hosted_partitions
from operations.broker.sizing import (
    MIN_HEAP_MIB,
    broker_size,
    fixed_partitions,
    heap_for,
    heap_mib,
    partitions,
    partitions_per_agency,
    partitions_per_entry,
)
from schemas.state import state_topics
from schemas.topics import bus_topics


def _bus(entries: int, agencies: int) -> int:
    defs = bus_topics([f"e{i}" for i in range(entries)], [f"a{i}" for i in range(agencies)])
    return sum(d.partitions for d in defs)


def test_per_entry_and_per_agency_match_the_topics_the_bus_makes() -> None:
    assert _bus(2, 0) - _bus(1, 0) == partitions_per_entry() - 3  # + the changelog (3)
    assert _bus(0, 2) - _bus(0, 1) == partitions_per_agency()
    # Ingest and changelog: the canonical stream, dead letters and open feed are shared.
    assert partitions_per_entry() == 6
    assert partitions_per_agency() == 8
    assert fixed_partitions() == _bus(0, 0) + len(state_topics().defs) + 100
    assert fixed_partitions(serve=True) == fixed_partitions() + 1
    assert partitions(1000, 200) == 6 * 1000 + 8 * 200 + fixed_partitions()


def test_a_city_of_2000_entries_and_200_agencies_fits_a_modest_broker() -> None:
    """Issue 19 item 4: 2,000 entries and 200 agencies are 13,721 partitions, under the
    20,000 open files of the machine that measured the limits (docs/capacity.md) with room
    for segments, and within a 1.5 GiB heap."""
    size = broker_size(partitions(2000, 200))
    assert size.partitions == 13_721
    assert size.open_files < 20_000 - 5_000
    assert size.heap_mib <= 1536


def test_heap_grows_with_partitions_and_never_below_the_minimum() -> None:
    small, big = broker_size(300), broker_size(24_000)
    assert small.heap_mib == MIN_HEAP_MIB
    assert big.heap_mib > MIN_HEAP_MIB and big.heap_mib % 256 == 0
    assert big.heap_mib >= 2 * big.live_heap_mib
    assert big.open_files > big.partitions and big.memory_maps > 2 * big.partitions
    assert broker_size(1000, segments_per_partition=4).open_files > broker_size(1000).open_files
    assert heap_for("4g", 24_000) == "4g"
    assert heap_for("512m", 300) == "512m"
    assert heap_mib(heap_for("512m", 24_000)) == big.heap_mib


@pytest.mark.parametrize(("text", "mib"), [("512m", 512), ("2g", 2048), ("1048576k", 1024)])
def test_heap_sizes(text: str, mib: float) -> None:
    assert heap_mib(text) == mib


def test_a_heap_size_that_is_none() -> None:
    with pytest.raises(ValueError, match="heap size"):
        heap_mib("lots")


def test_hosted_partitions_counts_partition_folders(tmp_path: Path) -> None:
    for name in (
        "govbus.ingest.x-0",
        "govbus.ingest.x-1",
        "__consumer_offsets-7",
        "__cluster_metadata-0",
        "govbus.feed.y-0.abc123-delete",
    ):
        (tmp_path / name).mkdir()
    (tmp_path / "meta.properties").write_text("")
    assert hosted_partitions(tmp_path) == 3
    assert hosted_partitions(tmp_path / "absent") == 0
