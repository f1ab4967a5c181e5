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
from tests.support.scenario import Names, Reader
from topology.processor import Processor, ProcessorConfig
from topology.reference import StaticReference

PERSON = "11010519491231002X"
#: A stopped processor finishes its transaction and leaves within this (a busy machine).
PROCESSOR_STOP_S = 60.0


PERSON_KEY = f"resident_id:{PERSON}"


@dataclass
class Bus:
    """A running processor on a fresh copy of the demo catalog (the ``bus`` fixture)."""

    bootstrap: str
    config: dict[str, str]  # the administrator's client settings (kafka_config)
    names: Names
    loaded: LoadedCatalog
    processor: Processor

    def records(self, topic: str, record: str, until: int | None = None) -> list[dict[str, Any]]:
        """The committed records of ``topic``, decoded as ``record``, as the administrator."""
        return Reader(self.bootstrap, self.config).records(topic, record, until=until)

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
    """The gate and fan-out on ``loaded`` (a fixed reference), in a thread of its own and a
    group of its own (``group_id``: a restart continues that group's work), as the
    principal of ``config``, while the block runs; a transaction stays open at most
    ``commit_interval_s`` under load."""
    processor = Processor(
        ProcessorConfig(
            bootstrap,
            group_id=group_id or f"govbus-test-{uuid.uuid4().hex}",
            commit_interval_s=commit_interval_s,
            extra_config=dict(config),
        ),
        StaticReference(loaded.catalog, loaded.grants),
    )
    with running(processor):
        yield processor


@contextmanager
def running(processor: Processor) -> Iterator[Processor]:
    """``processor`` in a thread of its own while the block runs; stopped after it."""
    stop = threading.Event()
    thread = threading.Thread(target=processor.run, args=(stop,), daemon=True)
    thread.start()
    try:
        yield processor
    finally:
        stop.set()
        thread.join(timeout=PROCESSOR_STOP_S)
