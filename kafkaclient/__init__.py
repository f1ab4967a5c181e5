"""One thin, typed wrapper around confluent-kafka's clients, shared by producers/ and consumers/.

Rules: no I/O in ``__init__`` (the librdkafka client is made on first use); configuration
merges defaults < extra config < explicit arguments; a closed client refuses reuse
(:class:`ClientState`); one closing protocol (:class:`Closing`); librdkafka errors become
:mod:`base.errors` exceptions where they enter, a connection failure named by its cause
(:mod:`kafkaclient.diagnose`). Nothing outside this package touches the native client
(``.client``).
"""

from confluent_kafka import OFFSET_BEGINNING, Message, TopicPartition

from kafkaclient.admin import Admin, PartitionHealth, Replicas, TopicSpec
from kafkaclient.base import ClientState, Closing, TopicMetadata, show_client_logs
from kafkaclient.consumer import Consumer, coordinates, read_from_beginning
from kafkaclient.producer import Producer
from kafkaclient.retry import Backoff, retrying, transient

__all__ = [
    "OFFSET_BEGINNING",
    "Admin",
    "Backoff",
    "ClientState",
    "Closing",
    "Consumer",
    "Message",
    "PartitionHealth",
    "Producer",
    "Replicas",
    "TopicMetadata",
    "TopicPartition",
    "TopicSpec",
    "coordinates",
    "read_from_beginning",
    "retrying",
    "show_client_logs",
    "transient",
]
