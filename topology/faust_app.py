"""The faust-streaming application, built by :func:`create_app` (never at import time).

At this stage it runs the heartbeat agent: pings in, acknowledgements out, so operators can
prove the stream-processing path end to end. Agents only call ``exchange/`` functions.

Run a worker: ``python -m topology.faust_app [--bootstrap HOST:PORT] worker -l warn``. It
connects with the librdkafka settings of ``Settings.load()`` (``GOVBUS_CREDENTIALS_FILE``,
or the running local broker's administrator), converted by :mod:`topology.faust_auth`;
no secret goes on its command line.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

import faust

from exchange.heartbeat import acknowledge
from topology.faust_auth import broker_credentials, worker_connection

HEARTBEAT_TOPIC = "govbus.heartbeat"
HEARTBEAT_ACK_TOPIC = "govbus.heartbeat.ack"


def create_app(
    bootstrap: str,
    *,
    app_id: str = "govbus-heartbeat",
    data_dir: Path | None = None,
    ping_topic: str = HEARTBEAT_TOPIC,
    ack_topic: str = HEARTBEAT_ACK_TOPIC,
    kafka_config: Mapping[str, str] | None = None,
) -> faust.App:
    """The heartbeat app on ``bootstrap``; ``kafka_config``: the librdkafka client settings
    (security protocol, SASL, TLS) it authenticates with."""
    app = faust.App(
        app_id,
        broker=f"kafka://{bootstrap}",
        broker_credentials=broker_credentials(kafka_config),
        autodiscover=False,
        datadir=str(data_dir) if data_dir else None,
        topic_replication_factor=1,
        topic_partitions=1,
        web_enabled=False,
        store="memory://",
    )
    # internal=True: faust declares (creates) these topics itself; the broker never
    # auto-creates topics (auto.create.topics.enable=false). One replica, so one in sync
    # suffices (a cluster's brokers default to min.insync.replicas=2: docs/reliability.md).
    heartbeat_config = {"min.insync.replicas": "1"}
    pings, acks = (
        app.topic(
            name,
            value_type=bytes,
            value_serializer="raw",
            internal=True,
            partitions=1,
            config=heartbeat_config,
        )
        for name in (ping_topic, ack_topic)
    )

    @app.task  # type: ignore[untyped-decorator]
    async def declare_topics() -> None:
        # faust declares a sink topic lazily on first send; consumers of acks need it now.
        await acks.maybe_declare()

    @app.agent(pings)
    async def heartbeat(stream: faust.StreamT[bytes]) -> None:
        async for ping in stream:
            ack = acknowledge(ping, app_id, datetime.now(UTC))
            await acks.send(value=ack.to_bytes())

    return app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--bootstrap", default="", help="default: the configured or the running local broker"
    )
    parser.add_argument("--app-id", default="govbus-heartbeat")
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--ping-topic", default=HEARTBEAT_TOPIC)
    parser.add_argument("--ack-topic", default=HEARTBEAT_ACK_TOPIC)
    args, rest = parser.parse_known_args(argv)
    bootstrap, kafka_config = worker_connection(args.bootstrap)
    app = create_app(
        bootstrap,
        app_id=args.app_id,
        data_dir=args.data_dir,
        ping_topic=args.ping_topic,
        ack_topic=args.ack_topic,
        kafka_config=kafka_config,
    )
    sys.argv = [sys.argv[0], *rest]
    app.main()


if __name__ == "__main__":
    main()
