"""Topic creation in requests the KRaft controller accepts (issue 19 item 1): a catalog of
any size creates its topics; before, one request for ~450 entries was refused whole."""

from __future__ import annotations

from confluent_kafka.cimpl import NewTopic

from kafkaclient.admin import MAX_RECORDS_PER_REQUEST, creation_chunks, topic_records

#: The controller's limit (Kafka's QuorumController.MAX_RECORDS_PER_USER_OP).
CONTROLLER_LIMIT = 10_000


def _topics(n: int, partitions: int, configs: int = 4) -> list[NewTopic]:
    config = {f"k{i}": "v" for i in range(configs)}
    return [NewTopic(f"t{i}", num_partitions=partitions, config=config) for i in range(n)]


def test_a_city_sized_catalog_is_cut_under_the_controller_limit() -> None:
    topics = _topics(2_000 * 4, 3)  # 2,000 entries x 4 per-entry topics, 3 partitions each
    chunks = creation_chunks(topics)
    assert len(chunks) > 1
    assert [t.topic for c in chunks for t in c] == [t.topic for t in topics]  # all, in order
    assert all(sum(topic_records(t) for t in c) <= MAX_RECORDS_PER_REQUEST for c in chunks)
    assert MAX_RECORDS_PER_REQUEST < CONTROLLER_LIMIT


def test_small_catalogs_stay_one_request_and_a_huge_topic_goes_alone() -> None:
    assert len(creation_chunks(_topics(30, 3))) == 1
    assert creation_chunks([]) == []
    huge = NewTopic("huge", num_partitions=MAX_RECORDS_PER_REQUEST + 10)
    small = _topics(2, 1)
    assert [[t.topic for t in c] for c in creation_chunks([small[0], huge, small[1]])] == [
        ["t0"],
        ["huge"],
        ["t1"],
    ]


def test_records_count_partitions_and_configs() -> None:
    (topic,) = _topics(1, 12, configs=3)
    assert topic_records(topic) == 1 + 3 + 12
