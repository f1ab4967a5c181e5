"""Closing conflicts (GM 19): agencies consult promptly, else the bureau coordinates and
verifies; `govbus conflicts resolve` records the outcome on govbus.conflicts.resolved, and
`conflicts list` and the monitor stop counting the conflict as open.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from base.errors import CoordinationError
from exchange.coordination import CaseLog, Resolution, first_resolutions, resolve, with_state
from monitoring.tracking import OpenCases

T0 = datetime(2024, 4, 3, 9, 30, tzinfo=UTC)


def _conflict(subject: str = "resident_id:1", **change: Any) -> dict[str, Any]:
    return {
        "conflict_id": uuid.uuid4(),
        "entry": "e",
        "canonical_subject": subject,
        "item": "name",
        "reported_provider": "city-hc",
        "detected_at": T0,
        **change,
    }


def test_resolve_copies_the_conflict_and_refuses_what_gm19_does_not_allow() -> None:
    """GM 19: the resolution names the conflict, who decided and how; once only."""
    c = _conflict()
    record = resolve(
        str(c["conflict_id"]),
        CaseLog([c], []),
        resolution=Resolution.SOURCE_CORRECTED,
        resolved_by=" 贵阳市大数据发展管理局 ",
        note="",
        at=T0,
    )
    assert record["resolution"] == "source_corrected" and record["note"] is None
    assert record["resolved_by"] == "贵阳市大数据发展管理局" and record["article"] == "GM 19"
    assert (record["entry"], record["canonical_subject"], record["item"]) == (
        "e",
        "resident_id:1",
        "name",
    )
    kwargs: dict[str, Any] = {
        "resolution": Resolution.AUTHORITATIVE_CONFIRMED,
        "resolved_by": "bureau",
        "note": None,
        "at": T0,
    }
    cases = {
        "already_resolved": (str(c["conflict_id"]), [record]),
        "unknown_conflict": (str(uuid.uuid4()), []),
    }
    for code, (cid, done) in cases.items():
        with pytest.raises(CoordinationError) as err:
            resolve(cid, CaseLog([c], done), **kwargs)
        assert (err.value.code, err.value.article) == (code, "GM 19")
    with pytest.raises(CoordinationError) as err:
        resolve(str(c["conflict_id"]), CaseLog([c], []), **{**kwargs, "resolved_by": " "})
    assert err.value.code == "no_decider"
    with pytest.raises(CoordinationError) as err:
        resolve(str(c["conflict_id"]), CaseLog([c], []), **{**kwargs, "at": datetime(2024, 4, 3)})
    assert err.value.code == "naive_time"
    state = with_state(c, first_resolutions([record, {**record, "resolution": "report_withdrawn"}]))
    assert (state["state"], state["resolution"]) == ("resolved", "source_corrected")
    assert with_state(_conflict(), {})["state"] == "open"


def test_open_cases_close_when_every_conflict_of_the_case_is_resolved() -> None:
    """GM 19: a case is open while any of its conflicts is unresolved, aged from the oldest
    unresolved one; a resolution read before its conflict still closes it."""
    t = T0.timestamp()
    first, again, other = _conflict(), _conflict(), _conflict("resident_id:2")
    cases = OpenCases()
    cases.resolve({"conflict_id": str(other["conflict_id"]).upper()})  # read first
    for c, at in ((first, t), (again, t + 600), (other, t + 60)):
        cases.add(c, at)
    assert [(r.open, r.oldest_age_seconds) for r in cases.rows(["e"], t + 1000)] == [(1, 1000)]
    cases.resolve({"conflict_id": first["conflict_id"]})
    assert [(r.open, r.oldest_age_seconds) for r in cases.rows(["e"], t + 1000)] == [(1, 400)]
    cases.resolve({"conflict_id": again["conflict_id"]})
    assert [(r.provider, r.open, r.oldest_age_seconds) for r in cases.rows(["e"], t + 1000)] == [
        ("city-hc", 0, 0.0)
    ]
    assert cases.rows(["other"], t) == ()
