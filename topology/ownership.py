"""One processor group owns an ingest topic (issue 14; GM 22 one decision per change, S 42
tamper evidence).

The processors of one group split an ingest topic's partitions and commit their position
with their outputs; a *second* group on the same topic would read the input again from
its start, decide every change a second time (duplicate dead letters, receipts and audit
records) and, since both groups restore the same audit chain heads from the changelog,
extend each chain twice: a forked chain (``govbus audit verify`` reports it). So
``govbus run`` refuses to start a group on input another group holds.

Check (:func:`check_input`), before any worker starts:

1. The ingest topics of the catalog the workers will serve (a fixed catalog file, or the
   state topics of the namespace).
2. The consumer groups holding any of them (:func:`kafkaclient.groups.groups_reading`):
   offsets committed on it, or members assigned to it now.
3. Any group but the one being started: refuse with a :class:`ConfigError` naming the
   topic, the owning group and the fix (run with ``--group <owner>``).

The same holds for the repartition stage beside the processors: one group
(:func:`topology.repartitioner.repartition_group` of the processors' group) owns the
submission topics, else every submission would be moved to its ingest topic twice. Steps
1-3 are repeated for the catalog's submission topics and that group.

It checks what the cluster shows at start-up: two groups started within the same moment
on an input nobody has read yet both pass (the audit verification then shows the fork).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from base.errors import ConfigError
from consumers.reference import ReferenceView
from exchange.catalog import Catalog
from exchange.catalog_loader import load_catalog
from kafkaclient import Admin
from kafkaclient.groups import GroupInput, groups_reading
from schemas.topics import TopicKind, topic_name
from topology.repartitioner import GROUP_SUFFIX, repartition_group


def _catalog(
    bootstrap: str,
    catalog: Path | None,
    namespace: str | None,
    extra_config: Mapping[str, Any] | None,
) -> Catalog:
    """The catalog file's, else the namespace's state topics'."""
    if catalog is not None:
        return load_catalog(catalog).catalog
    with ReferenceView(bootstrap, extra_config=extra_config, namespace=namespace) as view:
        return view.refresh().catalog


def ingest_topics(
    bootstrap: str,
    *,
    catalog: Path | None = None,
    namespace: str | None = None,
    extra_config: Mapping[str, Any] | None = None,
) -> list[str]:
    """Step 1: the ingest topics of the catalog file, else of the namespace's state topics."""
    entries = _catalog(bootstrap, catalog, namespace, extra_config).entries
    return sorted(topic_name(TopicKind.INGEST, e.id) for e in entries)


def foreign_owners(groups: Iterable[GroupInput], group: str) -> dict[str, list[GroupInput]]:
    """Step 3: topic -> the other groups holding it (sorted by group id)."""
    owners: dict[str, list[GroupInput]] = {}
    for held in sorted(groups, key=lambda g: g.group):
        if held.group == group:
            continue
        for topic in sorted(held.topics):
            owners.setdefault(topic, []).append(held)
    return owners


def _how(held: GroupInput, topic: str) -> str:
    ways = []
    if topic in held.committed:
        ways.append("its committed offsets")
    if topic in held.assigned:
        ways.append(f"{held.members} active member(s)")
    return " and ".join(ways)


def check_input(
    bootstrap: str,
    group: str,
    *,
    catalog: Path | None = None,
    namespace: str | None = None,
    extra_config: Mapping[str, Any] | None = None,
) -> list[str]:
    """Refuse (ConfigError) when another group holds an ingest topic the workers of
    ``group`` would read, or a submission topic their repartition stage would read; return
    the ingest topics checked."""
    # Step 1: the input.
    loaded = _catalog(bootstrap, catalog, namespace, extra_config)
    topics = sorted(topic_name(TopicKind.INGEST, e.id) for e in loaded.entries)
    admin = Admin(bootstrap, extra_config=extra_config)
    # Step 2: who holds it.
    holding = groups_reading(admin, topics)
    # Step 3: nobody else.
    owners = foreign_owners(holding, group)
    if owners:
        topic, (owner, *others) = next(iter(sorted(owners.items())))
        more = len(owners) - 1
        also = f" and {more} more ingest topic(s)" if more else ""
        other_groups = f" (also held by {', '.join(o.group for o in others)})" if others else ""
        raise ConfigError(
            f"ingest topic {topic}{also} is processed by group {owner.group} "
            f"({_how(owner, topic)}){other_groups}: a second group would decide that input again "
            f"and fork its audit chains; run with --group {owner.group}"
        )
    _check_submissions(admin, loaded, group)
    return topics


def _check_submissions(admin: Admin, catalog: Catalog, group: str) -> None:
    """Steps 1-3 for the repartition stage: its group alone holds the submission topics."""
    topics = sorted(topic_name(TopicKind.SUBMIT, a.id) for a in catalog.agencies)
    owners = foreign_owners(groups_reading(admin, topics), repartition_group(group))
    if owners:
        topic, (owner, *_) = next(iter(sorted(owners.items())))
        processors = owner.group.removesuffix(GROUP_SUFFIX)
        raise ConfigError(
            f"submission topic {topic} is repartitioned by group {owner.group} "
            f"({_how(owner, topic)}): a second group would move every submission again; "
            f"run with --group {processors}"
        )
