"""The fan-out rosters a reference keeps (topology.fanout.RosterMemo): decided once per
entry and provider, kept while they cover the event's time, decided again when a grant
ends in between, and the plan's records are those of a plan that decides every change
alone (G 15, G 17, S 25, S 29)."""

from __future__ import annotations

from datetime import datetime, timedelta

from exchange.catalog_loader import load_catalog
from exchange.gate import fanout_recipients
from exchange.policy import fanout_roster
from schemas import encode
from schemas.topics import TopicKind, topic_name
from tests.support.scenario import DEMO, event
from topology.encoding import Encoder
from topology.fanout import RosterMemo
from topology.plan import Input, PlanOptions, Reference, plan_message

LOADED = load_catalog(DEMO)
CONTACT = "psb.person.contact"
PERSON = "11010519491231002X"
SUBJECT = f"resident_id:{PERSON}"
#: grant-2024-0002 (city-hc, phone) ends here.
_ENDS = next(g.valid_until for g in LOADED.grants if g.id == "grant-2024-0002")
assert _ENDS is not None
ENDS: datetime = _ENDS
BEFORE = ENDS - timedelta(minutes=1)


def _input(offset: int, at: datetime) -> Input:
    record = {
        **event(CONTACT, "city-psb", PERSON, {"phone": f"1380000{offset:04d}"}),
        "event_time": at,
    }
    topic = topic_name(TopicKind.INGEST, CONTACT)
    return Input(topic, 0, offset, SUBJECT.encode(), encode("ChangeEvent", record))


def _feeds(reference: Reference, at: datetime, offset: int) -> set[str]:
    plan = plan_message(
        _input(offset, at), {}, (0, None), reference, at, encoder=Encoder(), options=PlanOptions()
    )
    return {w.topic for w in plan.writes if w.topic.startswith(topic_name(TopicKind.FEED, ""))}


def test_a_kept_roster_still_honours_a_grant_ending_at_the_events_time_g_15() -> None:
    reference = Reference.at(LOADED.catalog, LOADED.grants, BEFORE)
    assert _feeds(reference, BEFORE, 0) == {
        topic_name(TopicKind.FEED, "city-mca"),
        topic_name(TopicKind.FEED, "city-hc"),
    }
    assert _feeds(reference, ENDS, 1) == {topic_name(TopicKind.FEED, "city-mca")}
    assert len(reference.rosters) == 1  # one (entry, provider), decided again at ENDS


def test_a_roster_is_kept_while_it_covers_and_decided_again_after() -> None:
    memo = RosterMemo(LOADED.catalog, LOADED.grants, None)
    entry = LOADED.catalog.entry(CONTACT)
    assert entry is not None
    first = memo(entry, "city-psb", BEFORE - timedelta(days=1))
    assert memo(entry, "city-psb", BEFORE) is first
    after = memo(entry, "city-psb", ENDS)
    assert after is not first and after.covers(ENDS)
    assert after == fanout_roster(
        entry, fanout_recipients(LOADED.catalog, "city-psb"), LOADED.grants, at=ENDS
    )
    assert memo(entry, "city-mca", ENDS) is not after  # the provider is left out


def test_a_kept_roster_plans_what_a_roster_decided_for_each_event_plans() -> None:
    reference = Reference.at(LOADED.catalog, LOADED.grants, BEFORE)
    for offset, at in enumerate((BEFORE, ENDS, ENDS + timedelta(days=400))):
        msg = _input(offset, at)
        plans = [
            plan_message(msg, {}, (0, None), ref, at, encoder=Encoder(), options=PlanOptions())
            for ref in (reference, Reference.at(LOADED.catalog, LOADED.grants, BEFORE))
        ]
        assert plans[0] == plans[1]
