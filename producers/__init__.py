"""Adapters that write to the bus: the agency publisher (:class:`AgencyPublisher`)."""

from producers.model import Draft, PublisherOptions, PublishResult, PublishStatus, Receipt
from producers.publisher import AgencyPublisher

__all__ = [
    "AgencyPublisher",
    "Draft",
    "PublishResult",
    "PublishStatus",
    "PublisherOptions",
    "Receipt",
]
