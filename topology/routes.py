"""Where each record the processor writes goes (topic names from :mod:`schemas.topics`).

| record            | topic                                         | key                    |
|-------------------|-----------------------------------------------|------------------------|
| receipt           | govbus.receipts.<provider> (registered only)  | event id               |
| audit record      | govbus.audit                                  | event id, or position  |
| dead letter       | govbus.dlq.<entry of the ingest topic>        | event id, or none      |
| conflict          | govbus.conflicts                              | subject ``|`` item     |
| changelog         | govbus.state.onesource.<entry>, same partition| canonical subject      |
| canonical stream  | govbus.accepted.<entry>                       | canonical subject      |
| delivery          | govbus.feed.<agency> / govbus.open.<entry>    | the delivered subject  |

Every one of these topics exists before a message is planned: the processor creates the
bus topics of each catalog it is given before it subscribes (topology.processor).
"""

from __future__ import annotations

import functools

from exchange.catalog import Catalog
from exchange.onesource import Conflict
from exchange.policy import OpenFeed, Recipient
from schemas.topics import TopicKind, topic_name

AUDIT = topic_name(TopicKind.AUDIT)
CONFLICTS = topic_name(TopicKind.CONFLICTS)
#: Names are checked once, not per record (a plan routes to every feed of a catalog).
_named = functools.lru_cache(maxsize=4096)(topic_name)


def receipts(catalog: Catalog, provider: str) -> str | None:
    """The provider's receipts topic; None for an unregistered provider (no such topic:
    its dead letter answers)."""
    if catalog.agency(provider) is None:
        return None
    return _named(TopicKind.RECEIPTS, provider)


def dead_letters(entry: str) -> str:
    return _named(TopicKind.DLQ, entry)


def accepted(entry: str) -> str:
    return _named(TopicKind.ACCEPTED, entry)


def delivery(recipient: Recipient, entry: str) -> str:
    """The topic of a delivery of ``entry`` to ``recipient``."""
    if isinstance(recipient, OpenFeed):
        return _named(TopicKind.OPEN, entry)
    return _named(TopicKind.FEED, recipient.id)


def conflict_key(conflict: Conflict) -> bytes:
    return f"{conflict.subject}|{conflict.item}".encode()
