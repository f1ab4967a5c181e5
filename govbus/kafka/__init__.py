"""One thin, typed wrapper around confluent-kafka's clients, shared by producers/ and consumers/.

Rules: no I/O in ``__init__`` (the librdkafka client is made on first use); configuration
merges defaults < extra config < explicit arguments; context managers flush and close;
librdkafka errors become :mod:`govbus.errors` exceptions where they enter.
"""

from govbus.kafka.admin import Admin, TopicSpec
from govbus.kafka.consumer import Consumer
from govbus.kafka.producer import Producer

__all__ = ["Admin", "Consumer", "Producer", "TopicSpec"]
