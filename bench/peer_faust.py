"""The peer job (:mod:`bench.peer_job`) on faust-streaming, ``exactly_once``.

    python -m bench.peer_faust --bootstrap HOST:PORT --spec SPEC.json --app-id ID worker -l warn

Credentials: the librdkafka settings of ``Settings.load()`` (``GOVBUS_CREDENTIALS_FILE`` in
its environment, :mod:`bench.broker`), as faust ``broker_credentials``
(:mod:`topology.faust_auth`).

Settings: ``processing_guarantee="exactly_once"`` (a transactional producer per source
partition, read_committed), ``broker_commit_interval`` as govbus's (0.5 s unless given),
producer linger 5 ms with lz4, in-memory store, no web server. Topics exist already (the
bench creates them; the broker never auto-creates), so none is declared internal.

Caveat, measured as is: faust puts a record in the transaction of the *destination*
partition's source partition; topics it does not consume have none, so the fan-out goes
out on faust's plain producer, outside the transactions (faust-streaming #177; see
bench/faust_gate.py). Its outputs are therefore readable before the commit.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from pathlib import Path

import faust

from bench.peer_job import PeerJob
from topology.faust_auth import broker_credentials, worker_connection

SESSION_TIMEOUT_S = 10.0


def create_app(
    bootstrap: str,
    spec: Path,
    app_id: str,
    commit_interval_s: float,
    data_dir: Path,
    kafka_config: Mapping[str, str] | None = None,
) -> faust.App:
    job = PeerJob(spec)
    app = faust.App(
        app_id,
        broker=f"kafka://{bootstrap}",
        broker_credentials=broker_credentials(kafka_config),
        autodiscover=False,
        datadir=str(data_dir),
        processing_guarantee="exactly_once",
        topic_replication_factor=1,
        web_enabled=False,
        store="memory://",
        broker_commit_interval=commit_interval_s,
        broker_session_timeout=SESSION_TIMEOUT_S,
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,
        producer_linger_ms=5,
        producer_compression_type="lz4",
    )
    source = app.topic(
        job.ingest, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw"
    )
    sinks = {
        t: app.topic(
            t, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw"
        )
        for t in [r.topic for r in job.routes] + [job.open_topic]
    }

    @app.agent(source)
    async def fan_out(stream: faust.StreamT[bytes]) -> None:
        async for event in stream.events():
            for topic, key, value in job(event.key, event.value):
                await sinks[topic].send(key=key, value=value)

    return app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bootstrap", default="", help="default: the configured broker")
    parser.add_argument("--spec", type=Path, required=True)
    parser.add_argument("--app-id", required=True)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--commit-interval", type=float, default=0.5)
    args, rest = parser.parse_known_args(argv)
    bootstrap, kafka_config = worker_connection(args.bootstrap)
    app = create_app(
        bootstrap, args.spec, args.app_id, args.commit_interval, args.data_dir, kafka_config
    )
    sys.argv = [sys.argv[0], *rest]
    app.main()


if __name__ == "__main__":
    main()
