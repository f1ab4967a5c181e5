"""operations.broker.limits: the spawned broker's open-file limit is raised."""

from __future__ import annotations

import resource
import subprocess
import sys

from operations.broker.limits import NofileLimit, broker_preexec, current_nofile, raised

INF = resource.RLIM_INFINITY


def test_soft_goes_up_to_hard_and_nothing_goes_down() -> None:
    low = NofileLimit(1024, 20_000)
    assert raised(low, wanted=100_000, nr_open=1_048_576, may_raise_hard=False) == NofileLimit(
        20_000, 20_000
    )
    assert raised(low, wanted=100_000, nr_open=1_048_576, may_raise_hard=True) == NofileLimit(
        100_000, 100_000
    )
    # Never past the kernel's fs.nr_open, never below what is there already.
    assert raised(low, wanted=100_000, nr_open=65_536, may_raise_hard=True) == NofileLimit(
        65_536, 65_536
    )
    high = NofileLimit(200_000, 300_000)
    assert raised(high, wanted=100_000, nr_open=1_048_576, may_raise_hard=True) == NofileLimit(
        300_000, 300_000
    )
    assert raised(
        NofileLimit(1024, INF), wanted=100_000, nr_open=1_048_576, may_raise_hard=True
    ) == (NofileLimit(INF, INF))


def _lowered_then_raised() -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard))
    broker_preexec()


def test_a_spawned_process_starts_with_its_soft_limit_at_least_the_hard_one() -> None:
    """As LocalBroker._spawn runs it: in the child, before exec; this process keeps its own."""
    before = current_nofile()
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "import resource; print(*resource.getrlimit(resource.RLIMIT_NOFILE))",
        ],
        preexec_fn=_lowered_then_raised,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    soft, hard = int(out[0]), int(out[1])
    assert soft == hard >= before.hard  # 256 was raised back, to the hard limit or beyond
    assert soft > 256
    assert current_nofile() == before
