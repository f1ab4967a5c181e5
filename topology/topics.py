"""The topics a catalog needs: made when the catalog is imported or changed, only checked
when a worker starts (issue 19 items 1-2).

An entry gets its topics while it is in force (GM 14, S 18; :func:`exchange.catalog.in_force`:
published, or withdrawn with the stop still ahead, S 27 ¶2): ingest, accepted, dlq, open
(:func:`schemas.topics.bus_topics`) and the processor's one-source changelog
``govbus.state.onesource.<entry>``, with as many partitions as its ingest topic
(:mod:`topology.state`). Every agency gets its own topics. Entries not in force (drafts,
entries under review, withdrawn entries whose stop has come) get none: a withdrawn entry
keeps the topics it had (its data is retained), and the processor still consumes an ingest
topic that exists so that every submission forwarded there is answered, but restores its
partitions only when a message arrives (:class:`topology.processor.Processor`).

Ensuring (:func:`ensure_catalog_topics`), what the import does and what a worker's start
does as a fallback for a bus imported by an older version:

1. One metadata request: the topics that exist and their partition counts.
2. Create the missing ones, in CreateTopics requests the controller accepts
   (:meth:`kafkaclient.Admin.ensure_topics`); on a bus that was imported, nothing.
3. Grow a changelog that has fewer partitions than its ingest topic.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from exchange.catalog import Catalog, LifecycleState, in_force
from kafkaclient import Admin, TopicSpec
from schemas.topics import MAX_MESSAGE_BYTES, POLICIES, TopicKind, bus_topics, topic_name
from topology.state import changelog_topic


@dataclass(frozen=True)
class Ensured:
    """What :func:`ensure_catalog_topics` found and did."""

    #: Every topic of the cluster with its partition count, the ones created included.
    topics: Mapping[str, int]
    created: tuple[str, ...]


def published_entries(catalog: Catalog) -> list[str]:
    """Ids of the published entries (a subset of :func:`entries_in_force` at any time)."""
    return [e.id for e in catalog.entries if e.lifecycle.state is LifecycleState.PUBLISHED]


def entries_in_force(catalog: Catalog, at: datetime) -> list[str]:
    """Ids of the entries that have topics made for them and are restored eagerly: those
    in force at ``at`` (published, or withdrawn with the stop still ahead, S 27 ¶2)."""
    return [e.id for e in catalog.entries if in_force(e, at)]


def changelog_spec(changelog: str, partitions: int) -> TopicSpec:
    """A one-source changelog: compacted, messages as large as the processor writes."""
    return TopicSpec(
        changelog,
        partitions,
        None,
        {"cleanup.policy": "compact", "max.message.bytes": str(MAX_MESSAGE_BYTES)},
    )


def catalog_specs(
    entries: Iterable[str], agencies: Iterable[str], existing: Mapping[str, int]
) -> list[TopicSpec]:
    """The bus topics of ``entries`` and ``agencies`` and the entries' changelogs (each with
    as many partitions as its ingest topic has in ``existing``, else its policy's)."""
    entries = sorted(set(entries))
    specs = [TopicSpec.of(d) for d in bus_topics(entries, agencies)]
    for entry in entries:
        ingest = topic_name(TopicKind.INGEST, entry)
        count = max(existing.get(ingest, 0), POLICIES[TopicKind.INGEST].partitions)
        specs.append(changelog_spec(changelog_topic(ingest), count))
    return specs


def ensure_catalog_topics(admin: Admin, entries: Sequence[str], agencies: Sequence[str]) -> Ensured:
    """Make sure the topics of ``entries`` and ``agencies`` exist (steps in the module
    docstring); on a bus where they do, one metadata request and nothing else."""
    # Step 1: what exists.
    existing = dict(admin.topics())
    specs = catalog_specs(entries, agencies, existing)
    # Step 2: what is missing, in batches.
    missing = [s for s in specs if s.name not in existing]
    created = admin.ensure_topics(missing)
    for spec in missing:
        existing.setdefault(spec.name, spec.partitions)
    # Step 3: a changelog follows its ingest topic's partition count.
    changelogs = {changelog_topic(topic_name(TopicKind.INGEST, e)) for e in entries}
    grow = {
        s.name: s.partitions
        for s in specs
        if s.name in changelogs and existing.get(s.name, 0) < s.partitions
    }
    if grow:
        admin.grow_partitions(grow)
        existing.update(grow)
    return Ensured(existing, tuple(sorted(created)))
