"""One thin, typed wrapper around confluent-kafka's clients, shared by producers/ and consumers/.

Rules: no I/O in ``__init__`` (the librdkafka client is made on first use); configuration
merges defaults < extra config < explicit arguments; context managers flush and close;
librdkafka errors become :mod:`govbus.errors` exceptions where they enter.
"""

from confluent_kafka import OFFSET_BEGINNING, Message, TopicPartition

from govbus.kafka.admin import Admin, TopicSpec
from govbus.kafka.consumer import Consumer, coordinates
from govbus.kafka.producer import Producer

__all__ = [
    "OFFSET_BEGINNING",
    "Admin",
    "Consumer",
    "Message",
    "Producer",
    "TopicPartition",
    "TopicSpec",
    "coordinates",
]
