"""How long one small transaction takes when transactions go back to back.

``python -m bench.txn_commit [--txns 60] [--blocks 3] [--backoffs 100,10]`` runs, on a local
broker (or ``--bootstrap``), what the processor does for a lone event when it commits as
soon as its input is drained: ``begin_transaction``, one ``produce``,
``send_offsets_to_transaction``, ``commit_transaction``, then the next at once. Each
block uses a new transactional producer (through :class:`kafkaclient.Producer`) with one
``retry.backoff.ms`` of ``--backoffs``; the blocks alternate, so the machine's load falls
on every setting alike. It reports, per setting, the milliseconds of
``send_offsets_to_transaction`` and of the whole transaction (p50/p99/max): the
coordinator refuses AddOffsetsToTxn with CONCURRENT_TRANSACTIONS while it writes the
previous commit's markers, and librdkafka retries after ``retry.backoff.ms``.
"""

from __future__ import annotations

import argparse
import json
import time
import uuid
from typing import Any

from bench.broker import bench_broker
from bench.runs import percentile
from kafkaclient import Admin, Consumer, Producer, TopicPartition, TopicSpec


def _stats(values: list[float]) -> dict[str, float]:
    ms = [v * 1000 for v in values]
    return {
        "p50": round(percentile(ms, 50), 1),
        "p99": round(percentile(ms, 99), 1),
        "max": round(max(ms), 1),
    }


def run(bootstrap: str, config: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    suffix = uuid.uuid4().hex[:8]
    topic_in, topic_out = f"txn-bench-in-{suffix}", f"txn-bench-out-{suffix}"
    Admin(bootstrap, extra_config=config).ensure_topics(
        [TopicSpec(topic_in, 1, None, {}), TopicSpec(topic_out, 1, None, {})]
    )
    consumer = Consumer(bootstrap, f"txn-bench-{suffix}", extra_config=config)
    consumer.assign([TopicPartition(topic_in, 0, 0)])
    backoffs = [int(b) for b in args.backoffs.split(",")]
    offsets: dict[int, list[float]] = {b: [] for b in backoffs}
    whole: dict[int, list[float]] = {b: [] for b in backoffs}
    offset = 0
    for block in range(args.blocks):
        for backoff in backoffs:
            producer = Producer(
                bootstrap,
                extra_config={**config, "retry.backoff.ms": backoff},
                transactional_id=f"txn-bench-{suffix}-{block}-{backoff}",
            )
            producer.init_transactions()
            for _ in range(args.txns):
                began = time.perf_counter()
                producer.begin_transaction()
                producer.produce(topic_out, b"x", key=b"k")
                offset += 1
                sent = time.perf_counter()
                producer.send_offsets_to_transaction(
                    [TopicPartition(topic_in, 0, offset)], consumer.group_metadata()
                )
                offsets[backoff].append(time.perf_counter() - sent)
                producer.commit_transaction()
                whole[backoff].append(time.perf_counter() - began)
            producer.close()
    consumer.close()
    return {
        "txns_per_setting": args.txns * args.blocks,
        "send_offsets_ms": {str(b): _stats(v) for b, v in offsets.items()},
        "transaction_ms": {str(b): _stats(v) for b, v in whole.items()},
    }


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m bench.txn_commit", description=__doc__)
    p.add_argument("--txns", type=int, default=60, help="transactions per block (60)")
    p.add_argument("--blocks", type=int, default=3, help="blocks per setting (3)")
    p.add_argument("--backoffs", default="100,10", help="retry.backoff.ms settings (100,10)")
    p.add_argument("--bootstrap", default="")
    args = p.parse_args(argv)
    with bench_broker(args.bootstrap) as broker:
        report = run(broker.bootstrap, dict(broker.config), args)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
