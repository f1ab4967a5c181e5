"""The fault suite's hostile-input scenario, short form, on the session's broker (issue 18
item 2): 300 hostile messages of every category written raw to the provider's submission
topic, interleaved with 600 valid events sent through its agency publisher, two
``topology.run`` workers running. Every hostile message is answered exactly once (a dead
letter keeping its bytes and a reason, a receipt when there is an event to answer), none
is delivered, every valid event is in every stream exactly once and in order, no worker
exits. (Valid throughput under attack against the normal phase is a measure, printed
here and recorded by the long form in docs/reliability.md, never asserted by a test.)
"""

from __future__ import annotations

import os
from pathlib import Path

from bench.broker import BenchBroker
from bench.faults.checker import Anomalies
from bench.faults.hostile import CATEGORIES, run_hostile

HOSTILE = 150
VALID = 300


def test_hostile_messages_are_all_answered_while_valid_events_flow(
    bootstrap: str, kafka_config: dict[str, str], tmp_path: Path
) -> None:
    broker = BenchBroker(bootstrap, "session", kafka_config, dict(os.environ))
    result = run_hostile(broker, VALID, HOSTILE, tmp_path, say=print)
    print(result.describe())
    ledger = result.ledger
    assert ledger.sent == ledger.acknowledged == HOSTILE
    assert ledger.answered == HOSTILE, ledger.failures()
    assert not any(ledger.failures().values()), ledger.failures()
    assert set(ledger.sent_by_category) == set(CATEGORIES)
    assert result.anomalies.counts() == Anomalies().counts(), result.anomalies.examples()
    assert result.worker_exits == result.worker_restarts == 0
    assert result.ledger.ok
