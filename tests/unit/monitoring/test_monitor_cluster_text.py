"""`govbus monitor --once` tells an operator the brokers' health in one line (issue 18
item 4; GM 28): the active controller, and partitions under-replicated, under min ISR and
offline; a controller that could not be found is said, not hidden."""

from __future__ import annotations

from govbus.cli.monitor_cmd import print_cluster
from govbus.cli.output import console
from monitoring.snapshot import ClusterRow, Snapshot


def _text(cluster: ClusterRow | None) -> str:
    with console.capture() as captured:
        print_cluster(Snapshot(at=0.0, cluster=cluster))
    return captured.get()


def test_a_healthy_cluster() -> None:
    text = _text(ClusterRow(3, 2, 120, 0, 0, 0))
    assert "3 brokers" in text and "active controller 2" in text
    assert "under-replicated 0" in text and "offline 0" in text


def test_a_lost_node_and_a_lost_quorum() -> None:
    text = _text(ClusterRow(2, -1, 120, 40, 3, 7))
    assert "无 none" in text
    assert "under-replicated 40" in text and "offline 3" in text and "under min ISR 7" in text


def test_a_round_without_the_cluster() -> None:
    assert "无法获取" in _text(None)
    assert "未知 unknown" in _text(ClusterRow(1, None, 5, 0, 0, 0))
