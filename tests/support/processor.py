"""Shared test support (moved from tests/test_processor.py); not a test module."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from exchange.catalog_loader import LoadedCatalog
from schemas.topics import TopicKind, topic_name
from tests.support.scenario import Names, Reader, event, publish_events, topic_of
from topology.processor import Processor, ProcessorConfig
from topology.reference import StaticReference
from topology.repartitioner import Repartitioner, repartition_config, run_beside

PERSON = "11010519491231002X"
#: A stopped processor finishes its transaction and leaves within this (a busy machine).
PROCESSOR_STOP_S = 60.0


PERSON_KEY = f"resident_id:{PERSON}"


def publish_names(bootstrap: str, config: Mapping[str, str], names: Names, *values: str) -> None:
    """One name change of :data:`PERSON` per value, in order, from ``city-psb`` to
    ``psb.person.basic`` (of the ``names`` copy of the demo catalog)."""
    basic, psb = names.entry("psb.person.basic"), names.agency("city-psb")
    publish_events(
        bootstrap,
        [(PERSON_KEY, event(basic, psb, PERSON, {"name": value})) for value in values],
        config=config,
    )


@dataclass
class Bus:
    """A running processor on a fresh copy of the demo catalog (the ``bus`` fixture)."""

    bootstrap: str
    config: dict[str, str]  # the administrator's client settings (kafka_config)
    names: Names
    loaded: LoadedCatalog
    processor: Processor

    def publish_names(self, *values: str) -> None:
        """:func:`publish_names` on this bus, as the administrator."""
        publish_names(self.bootstrap, self.config, self.names, *values)

    def records(
        self, topic: str, record: str, until: int | None = None, *, entry: str | None = None
    ) -> list[dict[str, Any]]:
        """The committed records of ``topic`` (of ``entry``, in a topic every entry shares),
        decoded as ``record``, as the administrator."""
        return Reader(self.bootstrap, self.config).records(topic, record, until=until, entry=entry)

    def of_entry(
        self, kind: TopicKind, entry: str, record: str, until: int | None = None
    ) -> list[dict[str, Any]]:
        """The records of ``entry`` (a full id) in the topic of ``kind`` every entry shares
        (accepted, dlq, open)."""
        topic, shared_by = topic_of(kind, entry)
        return self.records(topic, record, until, entry=shared_by)

    def feed(self, agency: str, until: int | None = None) -> list[dict[str, Any]]:
        topic = topic_name(TopicKind.FEED, self.names.agency(agency))
        return self.records(topic, "FeedRecord", until)

    def receipts(self, agency: str, until: int | None = None) -> list[dict[str, Any]]:
        topic = topic_name(TopicKind.RECEIPTS, self.names.agency(agency))
        return self.records(topic, "Receipt", until)


@contextmanager
def running_processor(
    bootstrap: str,
    config: Mapping[str, str],
    loaded: LoadedCatalog,
    group_id: str | None = None,
    *,
    commit_interval_s: float = 0.1,
) -> Iterator[Processor]:
    """The gate and fan-out on ``loaded`` (a fixed reference), with the repartition stage
    beside it (as ``govbus run`` runs them, :func:`topology.repartitioner.run_beside`), in a
    thread of its own and groups of its own (``group_id``: a restart continues that group's
    work), as the principal of ``config``, while the block runs; a transaction stays open at
    most ``commit_interval_s`` under load."""
    processor_config = ProcessorConfig(
        bootstrap,
        group_id=group_id or f"govbus-test-{uuid.uuid4().hex}",
        commit_interval_s=commit_interval_s,
        extra_config=dict(config),
    )
    reference = StaticReference(loaded.catalog, loaded.grants)
    processor = Processor(processor_config, reference)
    repartitioner = Repartitioner(repartition_config(processor_config), reference)
    with running(processor, repartitioner):
        yield processor


@contextmanager
def running(processor: Processor, repartitioner: Processor | None = None) -> Iterator[Processor]:
    """``processor`` (and ``repartitioner`` beside it) in a thread of its own while the
    block runs; stopped after it. A loop that ended by an error fails the test with that
    error (a test waiting for outputs would otherwise only see them missing)."""
    stop = threading.Event()
    errors: list[BaseException] = []

    def loop() -> None:
        try:
            if repartitioner is None:
                processor.run(stop)
            else:
                run_beside(processor, repartitioner, stop)
        except BaseException as exc:  # noqa: BLE001 - raised again in the test's thread below
            errors.append(exc)

    thread = threading.Thread(target=loop, name="processor", daemon=True)
    thread.start()
    try:
        yield processor
    finally:
        stop.set()
        thread.join(timeout=PROCESSOR_STOP_S)
        if errors:
            raise AssertionError(f"the processor stopped by an error: {errors[0]!r}") from errors[0]
