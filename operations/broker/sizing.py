"""How big a broker a city's bus needs: partitions, open files and heap (issue 19 items 4, 6).

Pure functions. The partition count follows from how topics are made, not from a guess:

- per catalog entry (:func:`schemas.topics.bus_topics`, ``per="entry"``): the ingest
  topic, and the processor's one-source changelog ``govbus.state.onesource.<entry>`` with
  as many partitions as the ingest topic (:mod:`topology.topics`). The canonical stream,
  dead letters and open feed are shared by every entry (one topic each, counted once).
  ``govbus catalog import`` makes them for published entries;
  an entry withdrawn later keeps them (its data is retained), so N counts every entry
  that was ever published. (Measured points before issue 19 item 2 had the processor make
  them for withdrawn entries as well.)
- per agency (``per="agency"``): submission, submission dead letters, receipts and feed.
- once: the topics of no entry or agency (conflicts, resolutions, audit, the canonical
  stream, dead letters and open feed), the four state
  topics (:func:`schemas.state.state_topics`), ``govbus.audit.workflows`` when ``govbus
  serve`` runs, and Kafka's own ``__consumer_offsets`` and ``__transaction_state`` (50
  partitions each, Kafka's defaults, which the bus's broker configuration keeps) made at
  the first consumer group and the first transaction.

Open files and heap are measured (``python -m bench.capacity``, bench/README.md): a broker
holds about one descriptor per log segment plus its connections, and its live heap grows
linearly with the partitions it hosts. The constants below are those measurements' fit;
docs/capacity.md turns them into a capacity model.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from schemas.state import state_topics
from schemas.topics import POLICIES, TopicKind

#: Kafka's defaults for its internal topics (offsets.topic.num.partitions,
#: transaction.state.log.num.partitions); operations.broker.config does not change them.
CONSUMER_OFFSETS_PARTITIONS = 50
TRANSACTION_STATE_PARTITIONS = 50

#: Measured (bench/README.md, "Capacity"; Kafka 4.1.1, one broker): the broker's live heap
#: after a full GC (jcmd GC.run) was 185 MiB at 335 partitions, 241 at 2,469, 370 at 5,769
#: and 521 at 11,269; BASE + PER_PARTITION x partitions lies on or above every point.
HEAP_BASE_MIB = 180.0
HEAP_KIB_PER_PARTITION = 34.0
#: Descriptors besides the log segments: jars, the listeners' and clients' sockets, the
#: JVM's own (measured: 122-128 with one worker and an administrator connected; each
#: further client connection holds one more).
FD_BASE = 150
#: Memory maps besides the segments' two index maps: the JVM's own (measured: 445-454).
MAP_BASE = 500
#: The smallest heap the local broker gets (base.settings: broker_heap).
MIN_HEAP_MIB = 512
#: Heap = live set x this, so that G1 has room to work without back-to-back collections.
HEAP_HEADROOM = 2.0
HEAP_STEP_MIB = 256


def _per(scope: str) -> int:
    return sum(p.partitions for p in POLICIES.values() if p.per == scope)


def partitions_per_entry() -> int:
    """Partitions one catalog entry costs: its bus topics and its changelog."""
    return _per("entry") + POLICIES[TopicKind.INGEST].partitions


def partitions_per_agency() -> int:
    """Partitions one registered agency costs."""
    return _per("agency")


def fixed_partitions(*, serve: bool = False) -> int:
    """Partitions that do not grow with the catalog: shared bus topics, state topics,
    the workflows' audit (``serve``) and Kafka's internal topics."""
    shared = _per_none(serve=serve)
    state = sum(d.partitions for d in state_topics().defs)
    return shared + state + CONSUMER_OFFSETS_PARTITIONS + TRANSACTION_STATE_PARTITIONS


def _per_none(*, serve: bool) -> int:
    return sum(
        p.partitions
        for p in POLICIES.values()
        if p.per is None and (serve or p.kind is not TopicKind.WORKFLOW_AUDIT)
    )


def partitions(entries: int, agencies: int, *, serve: bool = False) -> int:
    """Every partition of one bus with ``entries`` catalog entries and ``agencies``
    agencies, on one broker (a cluster hosts each ``replication`` times)."""
    return (
        entries * partitions_per_entry()
        + agencies * partitions_per_agency()
        + fixed_partitions(serve=serve)
    )


@dataclass(frozen=True)
class BrokerSize:
    """What one broker hosting ``partitions`` partition replicas needs."""

    partitions: int
    #: Open file descriptors with one segment per partition (a fresh bus).
    open_files: int
    #: Memory maps (``vm.max_map_count``): an offset and a time index per segment, and
    #: the JVM's own.
    memory_maps: int
    live_heap_mib: int
    #: The ``-Xmx`` to give it (MiB).
    heap_mib: int

    @property
    def heap(self) -> str:
        """``heap_mib`` as a JVM size (``1536m``)."""
        return f"{self.heap_mib}m"


def live_heap_mib(partitions: int) -> float:
    return HEAP_BASE_MIB + partitions * HEAP_KIB_PER_PARTITION / 1024


def broker_size(partitions: int, *, segments_per_partition: float = 1.0) -> BrokerSize:
    """The broker for ``partitions`` replicas with ``segments_per_partition`` log segments
    each on average (1 on a fresh bus; each partition written to rolls a segment every
    ``segment.ms``, 7 days by default, or 1 GiB, and forever-retained topics keep them)."""
    segments = math.ceil(partitions * segments_per_partition)
    live = live_heap_mib(partitions)
    heap = max(MIN_HEAP_MIB, math.ceil(live * HEAP_HEADROOM / HEAP_STEP_MIB) * HEAP_STEP_MIB)
    return BrokerSize(
        partitions=partitions,
        open_files=segments + FD_BASE,
        memory_maps=2 * segments + MAP_BASE,
        live_heap_mib=math.ceil(live),
        heap_mib=heap,
    )


_SIZE = re.compile(r"^\s*(\d+)\s*([kKmMgG]?)\s*$")
_UNIT_MIB = {"": 1 / (1024 * 1024), "k": 1 / 1024, "m": 1, "g": 1024}


def heap_mib(size: str) -> float:
    """A JVM heap size (``512m``, ``2g``, ``1048576k``, bytes) in MiB; ValueError if not one."""
    match = _SIZE.match(size)
    if match is None:
        raise ValueError(f"{size!r} is not a JVM heap size (e.g. 512m, 2g)")
    return int(match.group(1)) * _UNIT_MIB[match.group(2).lower()]


def heap_for(configured: str, partitions: int) -> str:
    """The larger of the configured heap and the one ``partitions`` need."""
    needed = broker_size(partitions)
    return configured if heap_mib(configured) >= needed.heap_mib else needed.heap
