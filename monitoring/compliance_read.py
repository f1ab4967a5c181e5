"""Gather the facts of the compliance report from the cluster (read_committed, no group).

The audit topic and govbus.conflicts are read from their earliest records to their last
stable offsets; feeds from the furthest offset any consumer group committed to their end,
counting the records nobody has read.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from base.errors import KafkaTimeoutError
from exchange.catalog import Catalog
from kafkaclient import Admin
from kafkaclient.groups import committed_offsets, list_groups, partition_offsets
from monitoring.compliance import AuditFact, CaseFact, Facts, FeedFact
from monitoring.follow import Follower, Record
from schemas import decode
from schemas.topics import TopicKind, topic_name

#: Reading the audit topic (kept forever) to its end may take a while on a big bus.
READ_BUDGET_S = 300.0

TP = tuple[str, int]


def read_facts(
    bootstrap: str,
    catalog: Catalog,
    *,
    group_pattern: str | None = None,
    extra_config: Mapping[str, Any] | None = None,
    budget_s: float = READ_BUDGET_S,
) -> Facts:
    admin = Admin(bootstrap, extra_config=extra_config)
    existing = admin.topics()
    entries = {e.id for e in catalog.entries}
    audit_topic, conflicts_topic = topic_name(TopicKind.AUDIT), topic_name(TopicKind.CONFLICTS)
    feeds = {
        topic_name(TopicKind.FEED, a.id): a.id
        for a in catalog.agencies
        if topic_name(TopicKind.FEED, a.id) in existing
    }
    logs = [t for t in (audit_topic, conflicts_topic) if t in existing]
    partitions = [(t, p) for t in [*logs, *feeds] for p in range(existing[t])]
    ends = partition_offsets(admin, partitions, "latest")
    earliest = partition_offsets(admin, partitions, "earliest")
    furthest = _furthest(admin, feeds, group_pattern)
    starts = {
        tp: max(earliest[tp], furthest[tp][0]) if tp in furthest else earliest[tp]
        for tp in partitions
    }
    audit: list[AuditFact] = []
    cases: list[CaseFact] = []
    case_ids: set[str] = set()
    unread: dict[str, list[Record]] = {agency: [] for agency in feeds.values()}
    follower = Follower(bootstrap, extra_config=extra_config)
    try:
        follower.follow(starts)
        for r in follower.read(ends, budget_s):
            if r.topic == audit_topic:
                d = decode("Decision", r.value or b"")
                if d["entry"] in entries:
                    audit.append(AuditFact(d["kind"], d["entry"], d["provider"], d["occurred_at"]))
            elif r.topic == conflicts_topic:
                c = decode("Conflict", r.value or b"")
                # A resent report repeats its conflict under the same id: one case.
                if c["entry"] in entries and str(c["conflict_id"]) not in case_ids:
                    case_ids.add(str(c["conflict_id"]))
                    cases.append(CaseFact(c["entry"], c["reported_provider"], c["detected_at"]))
            elif r.topic in feeds:
                unread[feeds[r.topic]].append(r)
        behind = follower.behind(ends)
    finally:
        follower.close()
    if behind:
        raise KafkaTimeoutError(f"not read to the end within {budget_s}s: {behind[:5]}")
    groups_of: dict[str, set[str]] = {}
    for (topic, _), (_, groups) in furthest.items():
        groups_of.setdefault(feeds[topic], set()).update(groups)
    feed_facts = tuple(
        FeedFact(
            agency,
            tuple(sorted(groups_of.get(agency, ()))),
            len(records),
            min((_dt(r.timestamp_ms) for r in records), default=None),
        )
        for agency, records in sorted(unread.items())
    )
    return Facts(tuple(audit), tuple(cases), feed_facts)


def _furthest(
    admin: Admin, feeds: Mapping[str, str], group_pattern: str | None
) -> dict[TP, tuple[int, tuple[str, ...]]]:
    """Per feed partition: the furthest committed offset and the groups that committed."""
    pattern = re.compile(group_pattern) if group_pattern else None
    ids = [g for g in list_groups(admin) if pattern is None or pattern.search(g)]
    out: dict[TP, tuple[int, tuple[str, ...]]] = {}
    for group, parts in committed_offsets(admin, ids).items():
        for tp, offset in parts.items():
            if tp[0] in feeds:
                best, groups = out.get(tp, (offset, ()))
                out[tp] = (max(best, offset), (*groups, group))
    return out


def _dt(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000.0, UTC)
