"""The fault suite's short worker-kill scenario on the session's broker (issue 18 item 2):
while the provider publishes through its agency publisher, one of two ``topology.run``
workers is SIGKILLed and restarted three times; every acknowledged event is in every
feed, the open feed, the receipts and the audit chain exactly once, in order per
subject, nothing read from an aborted transaction, and the workers resumed each time.
"""

from __future__ import annotations

import os
from pathlib import Path

from bench.broker import BenchBroker
from bench.faults.checker import Anomalies
from bench.faults.run import SHORT, WORKER_KILL, run_scenario


def test_worker_sigkill_keeps_every_output_exactly_once(
    bootstrap: str, kafka_config: dict[str, str], tmp_path: Path
) -> None:
    broker = BenchBroker(bootstrap, "session", kafka_config, dict(os.environ))
    plan = SHORT[WORKER_KILL]
    result = run_scenario(broker, plan, tmp_path, say=print)
    print(result.describe())
    assert result.acknowledged == result.events > 0  # one broker up: every send acknowledged
    assert result.anomalies.counts() == Anomalies().counts(), result.anomalies.examples()
    assert result.audit_chains_ok
    assert len(result.resumed_s) == plan.runs
    assert all(s is not None for _, s in result.resumed_s), result.resumed_s
