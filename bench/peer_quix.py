"""The peer job (:mod:`bench.peer_job`) on quix-streams, exactly once.

    python -m bench.peer_quix --bootstrap HOST:PORT --spec SPEC.json --group G

Credentials: the librdkafka settings of ``Settings.load()`` (``GOVBUS_CREDENTIALS_FILE`` in
its environment, :mod:`bench.broker`); their connection settings (security protocol, SASL,
TLS) become quix's ``ConnectionConfig`` (``from_librdkafka_dict``), which every client of the
application (consumer, producer, admin) connects with.

Settings: ``processing_guarantee="exactly-once"`` (one Kafka transaction per checkpoint),
``commit_interval`` as govbus's (0.5 s unless given), the pipeline's producer settings
(linger 5 ms, lz4), no state (no changelog topics). Each record becomes the job's output
rows (``expand=True``); a dynamic ``to_topic`` routes each row to its topic with its key;
a serializer takes the payload bytes out of the row. SIGTERM stops it (quix's handler).
"""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from quixstreams import Application
from quixstreams.kafka.configuration import ConnectionConfig
from quixstreams.models.serializers import SerializationContext, Serializer

from bench.peer_job import Output, PeerJob
from topology.faust_auth import worker_connection

PRODUCER_CONFIG = {"linger.ms": 5, "compression.type": "lz4"}


class PayloadSerializer(Serializer):
    """The row is (topic, key, payload); Kafka gets the payload."""

    def __call__(self, value: Output, ctx: SerializationContext) -> bytes:
        return value[2]


def connection(bootstrap: str, kafka_config: Mapping[str, str] | None) -> ConnectionConfig:
    """quix's connection settings from librdkafka ones (non-connection settings dropped)."""
    config = {**(kafka_config or {}), "bootstrap.servers": bootstrap}
    return ConnectionConfig.from_librdkafka_dict(config, ignore_extras=True)


def build(
    bootstrap: str,
    spec: str,
    group: str,
    commit_interval_s: float,
    state: str,
    kafka_config: Mapping[str, str] | None = None,
) -> Any:
    job = PeerJob(Path(spec))
    app = Application(
        broker_address=connection(bootstrap, kafka_config),
        consumer_group=group,
        processing_guarantee="exactly-once",
        auto_offset_reset="earliest",
        commit_interval=commit_interval_s,
        producer_extra_config=PRODUCER_CONFIG,
        use_changelog_topics=False,
        state_dir=state,
        loglevel="WARNING",
    )
    source = app.topic(job.ingest, key_deserializer="bytes", value_deserializer="bytes")
    topics = [r.topic for r in job.routes] + [job.open_topic]
    sinks = {
        t: app.topic(t, key_serializer="bytes", value_serializer=PayloadSerializer())
        for t in topics
    }
    sdf = app.dataframe(source)
    sdf = sdf.apply(lambda value, key, _ts, _headers: job(key, value), metadata=True, expand=True)
    sdf.to_topic(lambda value, _key, _ts, _headers: sinks[value[0]], key=lambda row: row[1])
    return app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bootstrap", default="", help="default: the configured broker")
    parser.add_argument("--spec", required=True)
    parser.add_argument("--group", required=True)
    parser.add_argument("--commit-interval", type=float, default=0.5)
    args = parser.parse_args(argv)
    bootstrap, kafka_config = worker_connection(args.bootstrap)
    with tempfile.TemporaryDirectory(prefix="bench-quix-") as state:
        app = build(bootstrap, args.spec, args.group, args.commit_interval, state, kafka_config)
        app.run()


if __name__ == "__main__":
    main()
