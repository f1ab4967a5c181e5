"""Shared test support (moved from tests/test_processor.py); not a test module."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from exchange.catalog_loader import LoadedCatalog
from schemas.topics import TopicKind, topic_name
from tests.support.scenario import Names, read_topic
from topology.processor import Processor

PERSON = "11010519491231002X"


PERSON_KEY = f"resident_id:{PERSON}"


@dataclass
class Bus:
    bootstrap: str
    config: dict[str, str]  # the administrator's client settings (kafka_config)
    names: Names
    loaded: LoadedCatalog
    processor: Processor

    def feed(self, agency: str, until: int | None = None) -> list[dict[str, Any]]:
        topic = topic_name(TopicKind.FEED, self.names.agency(agency))
        return read_topic(
            self.bootstrap, topic, config=self.config, until=until, record="FeedRecord"
        )

    def receipts(self, agency: str, until: int | None = None) -> list[dict[str, Any]]:
        topic = topic_name(TopicKind.RECEIPTS, self.names.agency(agency))
        return read_topic(self.bootstrap, topic, config=self.config, until=until, record="Receipt")
