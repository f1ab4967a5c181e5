"""govbus end to end: ``python -m topology.run`` workers (one process each, static
membership, a transactional id per worker) on the scenario's fixed catalog. Their
credentials come from their environment (``GOVBUS_CREDENTIALS_FILE``, :mod:`bench.broker`),
read by ``topology.run`` with ``Settings.load()``; the command line holds no secret."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.runs import Launcher
from bench.scenario import Scenario


@dataclass(frozen=True)
class Setup:
    """One way of running the pipeline (defaults: the project's defaults)."""

    partitions: int = 3
    workers: int = 1
    audit: bool = True
    exactly_once: bool = True
    commit_interval_s: float = 0.5
    batch_size: int = 500
    #: The provider publishes to its submission topic (govbus.submit.<agency>): every event
    #: takes the repartition stage's hop; False: straight to the ingest topic, as the bus
    #: or an administrator may, so the stage idles (the cost of the hop is the difference).
    submit: bool = False

    def describe(self) -> dict[str, Any]:
        return {
            "submit": self.submit,
            "partitions": self.partitions,
            "workers": self.workers,
            "audit": self.audit,
            "exactly_once": self.exactly_once,
            "commit_interval_s": self.commit_interval_s,
            "batch_size": self.batch_size,
        }


def worker_commands(
    bootstrap: str, catalog: Path, setup: Setup, group: str, profile: Path | None = None
) -> list[list[str]]:
    """One ``topology.run`` command per worker; worker 0 under pyinstrument if ``profile``."""
    args = [
        "--bootstrap",
        bootstrap,
        "--group",
        group,
        "--catalog",
        str(catalog),
        "--commit-interval",
        str(setup.commit_interval_s),
        "--batch-size",
        str(setup.batch_size),
    ]
    if not setup.audit:
        args.append("--no-audit")
    if not setup.exactly_once:
        args.append("--at-least-once")
    commands = []
    for n in range(setup.workers):
        runner = [sys.executable]
        if profile is not None and n == 0:
            runner += ["-m", "pyinstrument", "-r", "text", "-o", str(profile)]
        commands.append([*runner, "-m", "topology.run", "--worker", str(n), *args])
    return commands


def govbus_launcher(bootstrap: str, setup: Setup, profile: Path | None = None) -> Launcher:
    def launch(scenario: Scenario, work_dir: Path) -> list[list[str]]:
        catalog = scenario.write_catalog(work_dir)
        group = f"bench-{scenario.suffix}"
        return worker_commands(bootstrap, catalog, setup, group, profile)

    return Launcher(launch)
