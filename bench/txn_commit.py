"""How long one small transaction takes when transactions go back to back.

``python -m bench.txn_commit [--txns 60] [--blocks 3] [--backoffs 100,10]`` runs, on a local
broker (or ``--bootstrap``), what the processor does for a lone event when it commits as
soon as its input is drained: ``begin_transaction``, one ``produce``,
``send_offsets_to_transaction``, ``commit_transaction``, then the next at once. Each
block uses a new transactional producer (through :class:`kafkaclient.Producer`) with one
``retry.backoff.ms`` of ``--backoffs`` (or, with ``--configs
"linger.ms=5;linger.ms=0,socket.nagle.disable=true"``, each ``;``-separated set of
librdkafka settings over the transactional producer's defaults); the blocks alternate, so
the machine's load falls on every setting alike. It reports, per setting, the
milliseconds of ``send_offsets_to_transaction``, of ``commit_transaction`` and of the
whole transaction (p50/p99/max): the coordinator refuses AddOffsetsToTxn with
CONCURRENT_TRANSACTIONS while it writes the previous commit's markers, and librdkafka
retries after ``retry.backoff.ms``.
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
    settings = _settings(args)
    offsets: dict[str, list[float]] = {label: [] for label in settings}
    commits: dict[str, list[float]] = {label: [] for label in settings}
    whole: dict[str, list[float]] = {label: [] for label in settings}
    offset = 0
    for block in range(args.blocks):
        for n, (label, extra) in enumerate(settings.items()):
            producer = Producer(
                bootstrap,
                extra_config={**config, **extra},
                transactional_id=f"txn-bench-{suffix}-{block}-{n}",
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
                ending = time.perf_counter()
                offsets[label].append(ending - sent)
                producer.commit_transaction()
                ended = time.perf_counter()
                commits[label].append(ended - ending)
                whole[label].append(ended - began)
            producer.close()
    consumer.close()
    return {
        "txns_per_setting": args.txns * args.blocks,
        "send_offsets_ms": {k: _stats(v) for k, v in offsets.items()},
        "commit_ms": {k: _stats(v) for k, v in commits.items()},
        "transaction_ms": {k: _stats(v) for k, v in whole.items()},
    }


def _settings(args: argparse.Namespace) -> dict[str, dict[str, str]]:
    """Label -> librdkafka settings of each producer setting compared."""
    if args.configs:
        sets = [s.strip() for s in args.configs.split(";")]
        return {s: dict(kv.split("=", 1) for kv in s.split(",") if kv) for s in sets}
    return {b: {"retry.backoff.ms": b} for b in args.backoffs.split(",")}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m bench.txn_commit", description=__doc__)
    p.add_argument("--txns", type=int, default=60, help="transactions per block (60)")
    p.add_argument("--blocks", type=int, default=3, help="blocks per setting (3)")
    p.add_argument("--backoffs", default="100,10", help="retry.backoff.ms settings (100,10)")
    p.add_argument(
        "--configs",
        default="",
        help="';'-separated sets of k=v,k=v producer settings (instead of --backoffs)",
    )
    p.add_argument("--bootstrap", default="")
    args = p.parse_args(argv)
    with bench_broker(args.bootstrap) as broker:
        report = run(broker.bootstrap, dict(broker.config), args)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
