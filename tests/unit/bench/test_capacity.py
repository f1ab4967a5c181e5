"""bench.capacity (issue 19 item 4): the cities it builds, and the partition model of
operations/broker/sizing.py against every partition count it measured."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

# bench/ is a directory of the repository, not an installed package.
sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from bench.capacity import RESULTS, city_of
from exchange.catalog import LifecycleState
from operations.broker.sizing import broker_size, partitions, partitions_per_entry


@pytest.mark.parametrize(("entries", "agencies"), [(6, 20), (50, 100), (7, 3)])
def test_a_city_has_the_entries_and_agencies_asked_for(entries: int, agencies: int) -> None:
    city = city_of(entries, agencies, "t1")
    assert len(city.entries) == entries and len(city.agencies) == agencies
    assert len({e.id for e in city.entries}) == entries
    assert len({a.id for a in city.agencies}) == agencies
    # The demo's shape: some entries withdrawn (they still cost topics: docs/capacity.md).
    if entries >= 6:
        assert any(e.lifecycle.state is LifecycleState.WITHDRAWN for e in city.entries)


def _measured() -> list[dict[str, object]]:
    """Every point measured, with the layout its file recorded (``machine``)."""
    points = []
    for path in sorted(RESULTS.glob("capacity-*.json")):
        report = json.loads(path.read_text())
        layout = {k: v for k, v in report["machine"].items() if k.endswith("partitions_per_entry")}
        points += [
            {**p, **layout, "file": path.name} for p in report["points"] if "partitions" in p
        ]
    return points


def test_the_partition_model_is_what_the_broker_held() -> None:
    """Every point bench.capacity measured (bench/results/capacity-*.json): the broker held
    exactly the partitions the model of its day predicted (``model_partitions``), and a
    point measured with today's layout (as many partitions per entry) is what
    operations.broker.sizing.partitions predicts for its published entries (issue 19
    item 4: shared accepted, dlq and open topics since 2026-12-07)."""
    points = _measured()
    assert points, "no capacity results committed"
    current = [p for p in points if p["partitions_per_entry"] == partitions_per_entry()]
    assert current, "no capacity point measured with today's topic layout"
    for point in points:
        assert point["partitions"] == point["model_partitions"], point
    for point in current:
        published, agencies = int(str(point["published"])), int(str(point["agencies"]))
        assert point["partitions"] == partitions(published, agencies), point


def test_open_files_maps_and_live_heap_stay_within_the_model() -> None:
    """The model is an upper bound of what each point measured, and not a loose one: open
    files and maps within 100 of it, the live heap within 25 %."""
    for point in _measured():
        size = broker_size(int(str(point["partitions"])))
        fds, maps = int(str(point["broker_fds"])), int(str(point["broker_maps"]))
        assert size.open_files - 100 <= fds <= size.open_files, point
        assert size.memory_maps - 100 <= maps <= size.memory_maps, point
        if point.get("heap_live_mib") is not None:
            live = float(str(point["heap_live_mib"]))
            assert live <= size.live_heap_mib <= live * 1.25, point
