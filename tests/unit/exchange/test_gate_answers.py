"""The gate's answers are enums whose members are the wire strings; an event stamped too
far in the future is rejected (G 13: accurate data), the bound passed in, time injected."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from exchange.catalog_loader import load_catalog
from exchange.gate import GateResult, IncomingEvent, decide
from exchange.identity import Reason
from exchange.outcomes import Outcome, ReasonCode
from tests.support.scenario import DEMO

NOW = datetime(2026, 6, 1, 8, 0, tzinfo=UTC)
PERSON = "11010519491231002X"
SKEW = timedelta(minutes=5)


def _event(event_time: datetime | None, key: str = f"resident_id:{PERSON}") -> IncomingEvent:
    return IncomingEvent(
        event_id="0f8fad5b-d9cb-469f-a165-70867728950e",
        entry="psb.person.basic",
        provider="city-psb",
        subject_key=PERSON,
        subject_kind="resident_id",
        operation="update",
        authoritative=True,
        items={"name": "张三"},
        message_key=key.encode(),
        event_time=event_time,
    )


def _decide(event: IncomingEvent, skew: timedelta | None = SKEW) -> GateResult:
    catalog = load_catalog(DEMO).catalog
    return decide(event, "psb.person.basic", catalog, (), {}, NOW, max_future_skew=skew)


@pytest.mark.parametrize(
    "ahead", [timedelta(0), SKEW, -timedelta(days=400), timedelta(seconds=299)]
)
def test_an_event_within_the_skew_is_decided(ahead: timedelta) -> None:
    result = _decide(_event(NOW + ahead))
    assert (
        result.outcome is Outcome.ACCEPTED and result.reason_code is ReasonCode.AUTHORITATIVE_SOURCE
    )


@pytest.mark.parametrize("ahead", [SKEW + timedelta(milliseconds=1), timedelta(days=365 * 74)])
def test_an_event_stamped_beyond_the_skew_is_rejected_G13(ahead: timedelta) -> None:
    result = _decide(_event(NOW + ahead))
    assert result.outcome is Outcome.REJECTED and result.rejected
    assert result.reason_code is ReasonCode.EVENT_TIME_IN_FUTURE
    assert result.article == "G 13" and "300 s" in result.reason_text
    assert result.new_states == {} and result.deliveries == ()


def test_the_bound_is_the_callers_and_an_unknown_time_is_not_refused() -> None:
    far = _event(NOW + timedelta(days=30))
    assert _decide(far, skew=timedelta(days=31)).outcome is Outcome.ACCEPTED
    assert _decide(far, skew=None).outcome is Outcome.ACCEPTED
    assert _decide(_event(None)).outcome is Outcome.ACCEPTED


def test_members_are_their_wire_strings() -> None:
    result = _decide(_event(NOW))
    assert result.outcome == "accepted" and f"{result.outcome}" == "accepted"
    assert result.canonical_subject == f"resident_id:{PERSON}"
    assert {o.value for o in Outcome} == {
        "accepted",
        "duplicate",
        "stopped",
        "confirmation",
        "conflict",
        "rejected",
        "stale",
    }


@pytest.mark.parametrize("reason", list(Reason))
def test_every_identity_reason_has_a_code_GM18(reason: Reason) -> None:
    assert ReasonCode.identity(reason).value == f"identity_{reason.value}"


def test_a_wrong_key_is_rejected_with_its_code_GM18() -> None:
    result = _decide(_event(NOW, key=PERSON))
    assert result.reason_code is ReasonCode.KEY_NOT_CANONICAL
    assert result.canonical_subject == f"resident_id:{PERSON}"
