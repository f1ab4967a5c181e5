"""The fault suite's soak, short form, on the session's broker (issue 18 item 2): two
``topology.run`` workers under the provider's publisher at a low rate for 90 s, sampled
every 5 s. What 90 s can show honestly: every acknowledged event in every stream exactly
once and in order, nothing read from an aborted transaction, the audit chains intact,
the samples taken, no worker restarted, no worker holding more open files at the end than
a small slack over the window after the warm-up, and the lag back at rest once the
publisher stops. Memory growth and speed are not asserted (90 s of RSS is noise): the
long form, ``python -m bench.faults --long --fault soak``, judges them
(docs/reliability.md).
"""

from __future__ import annotations

import os
from pathlib import Path

from bench.broker import BenchBroker
from bench.faults.checker import Anomalies
from bench.faults.run import SHORT, SOAK
from bench.faults.soak import run_soak

#: Open files a worker may gain in 90 s (a connection to a new leader, a metadata
#: refresh in flight): a leak grows without bound, the long form judges it strictly.
FD_SLACK = 3


def test_soak_short_form_keeps_every_output_and_its_files(
    bootstrap: str, kafka_config: dict[str, str], tmp_path: Path
) -> None:
    broker = BenchBroker(bootstrap, "session", kafka_config, dict(os.environ))
    plan = SHORT[SOAK]
    result = run_soak(broker, plan, tmp_path, say=print, sample_s=5.0)
    print(result.describe())
    soak = result.soak
    assert soak is not None
    assert result.acknowledged == result.events > 0  # one broker up: every send acknowledged
    assert result.anomalies.counts() == Anomalies().counts(), result.anomalies.examples()
    assert result.audit_chains_ok
    assert soak.rate == plan.rate
    assert len(soak.samples) >= 2
    assert all(min(s.rss_kib) > 0 and min(s.fds) > 0 for s in soak.samples)
    assert not soak.restarted and result.worker_restarts == 0
    assert all(g.difference <= FD_SLACK for g in soak.fds()), soak.describe()["judged"]
    assert soak.final_lag <= soak.rest_lag
