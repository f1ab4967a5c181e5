"""The repartition stage: the processor's transaction loop over the submission topics.

:class:`Repartitioner` is :class:`topology.processor.Processor` (the same commit protocol,
steps 1-11 of its docstring: exactly once, abort and rewind, retry, quarantine) with:

- input (steps 2-3): every registered agency's ``govbus.submit.<agency>``; no state to
  restore, and it writes no audit chain (what it forwards is audited by the gate);
- planning (step 4): :func:`topology.repartition.plan_submission`, with the partition
  count of every ingest topic, read when the catalog changes;
- quarantine (step 10): :func:`topology.repartition.plan_submission_quarantine`.

``govbus run`` runs one in every worker beside its processor (:mod:`topology.run`), in a
consumer group of its own (:func:`repartition_group`) and with its own transactional id.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from datetime import UTC, datetime

from exchange.catalog import Catalog
from kafkaclient import TopicPartition
from schemas.topics import TopicKind, topic_name
from topology.plan import Input, Plan, Reference
from topology.processor import Processor, ProcessorConfig
from topology.reference import ReferenceSource
from topology.repartition import Routing, plan_submission, plan_submission_quarantine
from topology.topics import ensure_catalog_topics, entries_in_force

log = logging.getLogger("govbus.repartition")

#: Appended to the processors' group id (and so to its transactional ids).
GROUP_SUFFIX = "-repartition"


def repartition_group(processor_group: str) -> str:
    """The repartition stage's group beside processors of ``processor_group``."""
    return f"{processor_group}{GROUP_SUFFIX}"


def repartition_config(processor: ProcessorConfig) -> ProcessorConfig:
    """The stage's settings beside a processor's: its own group and transactional id (and
    static member id), no audit chain; the rest (broker, credentials, batch, commit
    interval, exactly once) the same."""
    group = repartition_group(processor.group_id)
    consumer = dict(processor.consumer_config)
    if "group.instance.id" in consumer:
        consumer["group.instance.id"] = f"{group}-worker-{processor.worker}"
    return dataclasses.replace(processor, group_id=group, audit=False, consumer_config=consumer)


class Repartitioner(Processor):
    """Submission topics in, ingest topics out (module docstring)."""

    def __init__(self, config: ProcessorConfig, reference: ReferenceSource) -> None:
        super().__init__(config, reference)
        self._partitions: dict[str, int] = {}

    def _input_topics(self, catalog: Catalog) -> tuple[str, ...]:
        return tuple(sorted(topic_name(TopicKind.SUBMIT, a.id) for a in catalog.agencies))

    def _ensure_topics(self, catalog: Catalog) -> None:
        """Every topic a plan can route to (the catalog import made them: one metadata
        request finds them, topology.topics), and the partition counts of the ingest topics
        that exist: an entry without one is answered here (topology.repartition, step 3)."""
        current = entries_in_force(catalog, datetime.now(UTC))
        ensured = ensure_catalog_topics(self._admin, current, [a.id for a in catalog.agencies])
        self.created_topics += ensured.created
        ingest = (topic_name(TopicKind.INGEST, e.id) for e in catalog.entries)
        self._partitions = {t: ensured.topics[t] for t in ingest if t in ensured.topics}

    def _restore(self, partitions: list[TopicPartition]) -> None:
        topics = len({t.topic for t in partitions})
        log.info("repartitioning %d partition(s) of %d topic(s)", len(partitions), topics)
        log.debug("repartitioning %s", ", ".join(f"{t.topic}/{t.partition}" for t in partitions))

    def _plan(self, inp: Input, reference: Reference, now: datetime) -> Plan:
        routing = Routing(reference.catalog, self._partitions)
        return plan_submission(inp, routing, now, encoder=self._encoder, options=self._options)

    def _quarantine(self, inp: Input, error: str, now: datetime) -> Plan:
        log.error("quarantining submission %s after two failures: %s", inp.position, error)
        return plan_submission_quarantine(
            inp, error, now, encoder=self._encoder, options=self._options
        )


def run_beside(processor: Processor, repartitioner: Processor, stop: threading.Event) -> None:
    """Run ``repartitioner`` in a thread beside ``processor`` until ``stop``; the first
    error of either stops both and is raised here."""
    errors: list[BaseException] = []

    def side() -> None:
        try:
            repartitioner.run(stop)
        except BaseException as exc:  # noqa: BLE001 - raised again in the worker's thread below
            errors.append(exc)
            stop.set()

    thread = threading.Thread(target=side, name="repartition", daemon=True)
    thread.start()
    try:
        processor.run(stop)
    finally:
        stop.set()
        thread.join()
    if errors:
        raise errors[0]
