"""Workflow metrics on /metrics, per obligation, agency and profile: open, overdue, within
one working day of the deadline, answer times in working days, late answers, deemed
consents; the holiday calendar's last day (D1); overdue answers per agency for the
compliance report (G 30, S 47)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from exchange.catalog import LEGAL_TZ
from govbus.http.app import create_app
from monitoring.compliance import Facts, Window, build_report, report_to_dict
from tests.support.workflow import OpenWorkflows, WorkflowEnv
from topology.workflows.facts import overdue_answers


@pytest.fixture
def env(open_workflows: OpenWorkflows) -> WorkflowEnv:
    return open_workflows("guiyang-2021")


def _samples(env: WorkflowEnv, user: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    got = env.call("GET", "/metrics", user)
    assert got.status_code == 200, got.text
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(got.text)
        for s in family.samples
    }


def _le(key: tuple[tuple[str, str], ...], bound: str) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((*key, ("le", bound))))


def test_metrics_count_open_overdue_due_soon_late_and_deemed_cases(env: WorkflowEnv) -> None:
    psb = env.agency("city-psb")
    answered = env.apply().json()["id"]
    env.apply("amr-clerk")  # guiyang-2021: due 06-11 (24:00); stays unanswered
    env.clock.advance(timedelta(days=3))  # 06-04: three working days after 06-01
    env.login()
    approved = env.call("POST", f"/v1/applications/{answered}/approve", "psb-clerk", json={})
    assert approved.status_code == 200, approved.text
    shenyang = env.instance("shenyang-2019")
    try:
        with TestClient(create_app(shenyang, background=False)) as sy:
            env.apply("mca-clerk", client=sy)  # shenyang: 5 working days from 06-04: 06-11
            env.clock.set(env.clock.now().replace(day=10, hour=9))  # 06-10, a Wednesday
            env.login()
            key = (("agency", psb), ("obligation", "share_reply"), ("profile", "guiyang-2021"))
            soon = _samples(env, "auditor")
            assert soon[("govbus_workflow_cases_open", key)] == 1
            assert soon[("govbus_workflow_cases_due_within_one_workday", key)] == 1
            assert soon[("govbus_workflow_cases_overdue", key)] == 0
            # The answer took three working days (06-02, 06-03, 06-04; D1).
            assert soon[("govbus_workflow_answer_workdays_bucket", _le(key, "2.0"))] == 0
            assert soon[("govbus_workflow_answer_workdays_bucket", _le(key, "3.0"))] == 1
            assert soon[("govbus_workflow_answer_workdays_sum", key)] == 3
            env.clock.set(env.clock.now() + timedelta(days=3))  # both deadlines passed
            env.login()
            assert shenyang.run_once() >= 2
    finally:
        shenyang.close()
    late = _samples(env, "bureau")
    assert late[("govbus_workflow_cases_overdue", key)] == 1
    assert late[("govbus_workflow_cases_due_within_one_workday", key)] == 0
    sy_key = (("agency", psb), ("obligation", "share_reply"), ("profile", "shenyang-2019"))
    assert late[("govbus_workflow_deemed_consents_total", sy_key)] == 1
    assert late[("govbus_workflow_cases_open", sy_key)] == 0
    last_day = late[("govbus_holiday_calendar_last_day_timestamp_seconds", ())]
    known = max(env.flows.calendar.years)
    assert (
        last_day
        == env.clock.now()
        .replace(
            year=known, month=12, day=31, hour=0, minute=0, second=0, microsecond=0, tzinfo=LEGAL_TZ
        )
        .timestamp()
    )
    # An agency's clerk may not read the metrics of every agency (the permission table).
    assert env.call("GET", "/metrics", "psb-clerk").status_code == 403
    # The compliance report adds the overdue answers per agency (G 30, S 47).
    counts = overdue_answers(
        env.flows.store, env.flows.applications.profiles, env.flows.calendar, env.clock.now()
    )
    assert counts == {psb: 1}
    now = env.clock.now()
    report = build_report(
        env.names.load().catalog,
        Facts(audit=(), cases=(), feeds=()),
        Window.of_days(None, None, now, opens=now - timedelta(days=30)),
        now=now,
        overdue_answers=counts,
    )
    document: Any = report_to_dict(report)  # as `govbus compliance report --json` prints it
    rows = {a["agency"]: a for a in document["agencies"]}
    assert rows[psb]["answers_overdue"] == 1 and rows[env.agency("city-hc")]["answers_overdue"] == 0
