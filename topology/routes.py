"""Where each record the processor writes goes (topic names from :mod:`schemas.topics`).

| record            | topic                                         | key                    |
|-------------------|-----------------------------------------------|------------------------|
| receipt           | govbus.receipts.<provider> (registered only)  | event id               |
| audit record      | govbus.audit                                  | event id, or position  |
| dead letter       | govbus.dlq (header: entry of the ingest topic)| event id, or none      |
| conflict          | govbus.conflicts                              | subject ``|`` item     |
| changelog         | govbus.state.onesource.<entry>, same partition| canonical subject      |
| canonical stream  | govbus.accepted (header: entry)               | canonical subject      |
| delivery          | govbus.feed.<agency> / govbus.open (header)   | the delivered subject  |

The dead letters, the canonical stream and the open feed are shared by every entry, each
record with the entry's :data:`schemas.topics.ENTRY_HEADER` (:data:`headers_of`).

Every one of these topics exists before a message is planned: the processor creates the
bus topics of each catalog it is given before it subscribes (topology.processor).
"""

from __future__ import annotations

import functools

from exchange.catalog import Catalog
from exchange.onesource import Conflict
from exchange.policy import OpenFeed, Recipient
from schemas.topics import TopicKind, entry_headers, topic_name

AUDIT = topic_name(TopicKind.AUDIT)
CONFLICTS = topic_name(TopicKind.CONFLICTS)
DEAD_LETTERS = topic_name(TopicKind.DLQ)
ACCEPTED = topic_name(TopicKind.ACCEPTED)
OPEN = topic_name(TopicKind.OPEN)
#: Names are checked once, not per record (a plan routes to every feed of a catalog).
_named = functools.lru_cache(maxsize=4096)(topic_name)


def receipts(catalog: Catalog, provider: str) -> str | None:
    """The provider's receipts topic; None for an unregistered provider (no such topic:
    its dead letter answers)."""
    if catalog.agency(provider) is None:
        return None
    return _named(TopicKind.RECEIPTS, provider)


#: An entry's header in the shared topics, made once per entry.
headers_of = functools.lru_cache(maxsize=4096)(entry_headers)


def delivery(recipient: Recipient) -> str:
    """The topic of a delivery to ``recipient``: its feed, or the shared open feed (whose
    records carry the entry's header, :func:`headers_of`)."""
    if isinstance(recipient, OpenFeed):
        return OPEN
    return _named(TopicKind.FEED, recipient.id)


def conflict_key(conflict: Conflict) -> bytes:
    return f"{conflict.subject}|{conflict.item}".encode()
