"""One thin, typed wrapper around confluent-kafka's clients, shared by producers/ and consumers/.

Rules: no I/O in ``__init__`` (the librdkafka client is made on first use); configuration
merges defaults < extra config < explicit arguments; context managers flush and close;
librdkafka errors become :mod:`base.errors` exceptions where they enter.
"""

from confluent_kafka import OFFSET_BEGINNING, Message, TopicPartition

from kafkaclient.admin import Admin, TopicSpec
from kafkaclient.consumer import Consumer, coordinates
from kafkaclient.producer import Producer

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
