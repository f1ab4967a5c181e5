"""Reading an agency's receipts topic ``govbus.receipts.<agency>``.

The reader is a read_committed consumer in a group under the agency's prefix
(``<agency>.publisher`` by default; broker ACLs give an agency only groups under its own
prefix). It commits after the publisher has recorded a batch (journal, callback), so a
receipt is never skipped unrecorded; records that do not decode as a Receipt are logged
and counted, never fatal.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from base.errors import SchemaError
from kafkaclient import Consumer
from producers.model import Receipt
from schemas import decode

log = logging.getLogger("govbus.producers.receipts")

#: Receipts are small; one batch of this many is decoded at a time.
RECEIPT_BATCH = 500
GROUP_SUFFIX = ".publisher"


def receipt_group(agency_id: str) -> str:
    """The default consumer group of an agency's publisher: under the agency's prefix."""
    return f"{agency_id}{GROUP_SUFFIX}"


class ReceiptReader:
    """Decoded receipts of one agency's topic, batch by batch (no I/O in ``__init__``)."""

    def __init__(
        self,
        bootstrap: str,
        topic: str,
        group_id: str,
        *,
        extra_config: Mapping[str, Any] | None = None,
    ) -> None:
        self.topic = topic
        self.undecodable = 0
        self._consumer = Consumer(bootstrap, group_id, extra_config=extra_config)
        self._subscribed = False
        # the newest message read per partition, stored and committed by commit()
        self._last: dict[tuple[str | None, int | None], Any] = {}

    def poll(self, timeout_s: float) -> list[Receipt]:
        """The next batch of receipts (may be empty after ``timeout_s``)."""
        if not self._subscribed:
            self._consumer.subscribe([self.topic])
            self._subscribed = True
        messages = self._consumer.consume(RECEIPT_BATCH, timeout_s=timeout_s)
        receipts = []
        for msg in messages:
            self._last[(msg.topic(), msg.partition())] = msg
            value = msg.value()
            try:
                if value is None:
                    raise SchemaError("empty record (tombstone)", code="no_value")
                receipts.append(Receipt.from_record(decode("Receipt", value)))
            except SchemaError as exc:
                self.undecodable += 1
                log.warning(
                    "receipt at %s[%s]@%s does not decode: %s",
                    msg.topic(),
                    msg.partition(),
                    msg.offset(),
                    exc,
                )
        return receipts

    def commit(self) -> None:
        """Commit what was read (call after recording it)."""
        if not self._last:
            return
        for msg in self._last.values():
            self._consumer.store_offset(msg)
        self._consumer.commit()
        self._last.clear()

    def close(self) -> None:
        self._consumer.close()
