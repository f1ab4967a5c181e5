"""Topic names and the names inside them: ``name_part`` is the inverse of ``topic_name``."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from base.errors import SchemaError
from schemas.topics import POLICIES, TopicKind, entry_of, name_part, topic_name

NAMED = [k for k, p in POLICIES.items() if p.per is not None]
PARTS = st.from_regex(r"[a-zA-Z0-9._-]{1,60}", fullmatch=True)


@given(kind=st.sampled_from(NAMED), part=PARTS)
def test_name_part_inverts_topic_name(kind: TopicKind, part: str) -> None:
    assert name_part(kind, topic_name(kind, part)) == part


def test_entry_of_an_ingest_topic() -> None:
    assert entry_of("govbus.ingest.GY-RK-0001") == "GY-RK-0001"
    assert entry_of(topic_name(TopicKind.INGEST, "psb.person.basic")) == "psb.person.basic"


@pytest.mark.parametrize(
    ("kind", "topic"),
    [
        (TopicKind.INGEST, "govbus.feed.city-psb"),
        (TopicKind.INGEST, "govbus.ingest."),
        (TopicKind.INGEST, "govbus.ingestX.e"),
        (TopicKind.CONFLICTS, "govbus.conflicts.resolved"),
        (TopicKind.AUDIT, "govbus.audit"),
    ],
)
def test_a_topic_of_another_kind_has_no_name_part(kind: TopicKind, topic: str) -> None:
    with pytest.raises(SchemaError):
        name_part(kind, topic)
