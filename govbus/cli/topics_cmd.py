"""``govbus topics ensure``: create the bus's topics idempotently, per the conventions."""

from __future__ import annotations

from pathlib import Path

import typer

from base.errors import GovbusError
from exchange.catalog import LifecycleState
from exchange.catalog_loader import load_catalog
from govbus.cli.broker_cmd import connected_settings
from govbus.cli.common import JSON_OPT
from govbus.cli.group import command_group
from govbus.cli.output import console, emit_json, fail
from kafkaclient import Admin, TopicSpec
from schemas.topics import bus_topics


def register(app: typer.Typer) -> None:
    topics = command_group(app, "topics", "The bus's Kafka topics (names, retention, compaction).")

    @topics.command("ensure")
    def ensure(
        catalog: Path = typer.Option(..., "--catalog", help="Catalog YAML file."),
        bootstrap: str = typer.Option("", help="Kafka bootstrap (default: settings)."),
        as_json: bool = JSON_OPT,
    ) -> None:
        """Create the topics of every published entry and registered agency (idempotent)."""
        settings = connected_settings(bootstrap, as_json)
        address = settings.bootstrap
        try:
            loaded = load_catalog(catalog).catalog
            published = [
                e.id for e in loaded.entries if e.lifecycle.state is LifecycleState.PUBLISHED
            ]
            defs = bus_topics(published, [a.id for a in loaded.agencies])
            created = Admin(address, extra_config=settings.kafka).ensure_topics(
                [TopicSpec.of(d) for d in defs]
            )
        except GovbusError as exc:
            fail(str(exc), as_json=as_json, kind=type(exc).__name__)
        if as_json:
            emit_json(
                {
                    "topics": [
                        {
                            "name": d.name,
                            "kind": str(d.kind),
                            "partitions": d.partitions,
                            "created": d.name in created,
                        }
                        for d in defs
                    ],
                    "created": len(created),
                    "existing": len(defs) - len(created),
                }
            )
        else:
            for d in defs:
                mark = "[green]created[/]" if d.name in created else "exists"
                console.print(f"{d.name:<48} {d.kind:<10} p={d.partitions}  {mark}")
