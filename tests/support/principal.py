"""Writing to a topic as one principal (an agency's credentials), to see what its ACLs let
through."""

from __future__ import annotations

from base.errors import KafkaError
from kafkaclient import Message, Producer


def produce_as(config: dict[str, str], topic: str, key: str, value: bytes) -> list[KafkaError]:
    """Produce one record as the principal of ``config``; the delivery errors, if any."""
    errors: list[KafkaError] = []

    def on_delivery(error: Exception | None, _message: Message) -> None:
        if error is not None:
            assert isinstance(error, KafkaError), error  # the wrapper converts (base.errors)
            errors.append(error)

    with Producer(config["bootstrap.servers"], extra_config=config) as producer:
        producer.produce(topic, value, key=key.encode(), on_delivery=on_delivery)
    return errors
