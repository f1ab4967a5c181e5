"""Adaptive commit (issue 17 item 1; G 12 实时): a drained input commits at once, so a lone
event is answered without waiting for the longest a transaction may stay open under load."""

from __future__ import annotations

from schemas.topics import TopicKind, topic_name
from tests.support.processor import PERSON, PERSON_KEY, running_processor
from tests.support.scenario import Names, event, publish_events, read_topic

#: Far longer than the test waits: only a commit on drain can make the outputs visible.
UNDER_LOAD_INTERVAL_S = 3600.0
WAIT_S = 60.0


def test_a_lone_event_is_committed_when_the_input_is_drained(
    bootstrap: str, kafka_config: dict[str, str]
) -> None:
    names = Names()
    basic, psb = names.entry("psb.person.basic"), names.agency("city-psb")
    receipts = topic_name(TopicKind.RECEIPTS, psb)
    with running_processor(
        bootstrap, kafka_config, names.load(), commit_interval_s=UNDER_LOAD_INTERVAL_S
    ):
        for count, name in enumerate(("张三", "张叁"), start=1):
            publish_events(
                bootstrap,
                [(PERSON_KEY, event(basic, psb, PERSON, {"name": name}))],
                config=kafka_config,
            )
            # read_committed: a receipt is visible once the transaction holding it commits.
            seen = read_topic(
                bootstrap, receipts, config=kafka_config, until=count, record="Receipt",
                timeout_s=WAIT_S,
            )  # fmt: skip
            assert [r["outcome"] for r in seen] == ["accepted"] * count
