"""Launchers for the framework peers (quix-streams, faust-streaming): one process each,
exactly once, running :mod:`bench.peer_job` on the scenario's topics: its ingest topic
and agency feeds, and an open feed of the scenario's own (``Scenario.peer_open_topic``;
the peers write none of the topics the bus shares between entries)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from bench.peer_job import write_spec
from bench.runs import Launcher
from bench.scenario import Scenario

PEERS = ("quix-streams", "faust-streaming")
MODULES = {"quix-streams": "quixstreams", "faust-streaming": "faust"}


def available(peer: str) -> bool:
    module = MODULES[peer]
    # faust swaps its package for a lazy module without __spec__ once imported, and
    # find_spec refuses a module whose __spec__ is None.
    return module in sys.modules or importlib.util.find_spec(module) is not None


def peer_launcher(peer: str, bootstrap: str, commit_interval_s: float) -> Launcher:
    def launch(scenario: Scenario, work_dir: Path) -> list[list[str]]:
        spec = write_spec(scenario, work_dir / f"spec-{scenario.suffix}.json")
        group = f"bench-{peer}-{scenario.suffix}"
        common = ["--bootstrap", bootstrap, "--spec", str(spec)]
        interval = ["--commit-interval", str(commit_interval_s)]
        if peer == "quix-streams":
            return [[sys.executable, "-m", "bench.peer_quix", *common, "--group", group, *interval]]
        data = work_dir / f"faust-{scenario.suffix}"
        return [
            [
                sys.executable,
                "-m",
                "bench.peer_faust",
                *common,
                "--app-id",
                group,
                "--data-dir",
                str(data),
                *interval,
                "worker",
                "-l",
                "warn",
                "--without-web",
            ]
        ]

    return Launcher(launch, peer=True)
