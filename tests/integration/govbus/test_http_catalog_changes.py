"""Catalog changes through the HTTP API, per role, on SQLite and PostgreSQL with the real
broker: an agency submits; the bureau reviews (G 11, S 18, J 11); the government approves
where the profile has the step (G 11, GM 14) and cannot where it does not (S 18);
publication creates the entry's topics and state; conditional entries are filed with
their legal basis in Shenyang (S 23); a withdrawal is filed in advance there (S 27 ¶2); a
Jinan attribute change needs the bureau's consent (J 9 ¶4); a base library entry cannot
be made conditional (GM 12, S 26)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from exchange.catalog import LifecycleState
from kafkaclient import Admin
from schemas.state import state_topics
from schemas.topics import TopicKind, topic_name
from tests.support.scenario import read_topic
from tests.support.workflow import OpenWorkflows, WorkflowEnv


@pytest.fixture
def guiyang(open_workflows: OpenWorkflows) -> WorkflowEnv:
    return open_workflows("guiyang-2021")


@pytest.fixture
def shenyang(open_workflows: OpenWorkflows) -> WorkflowEnv:
    return open_workflows("shenyang-2019")


@pytest.fixture
def jinan(open_workflows: OpenWorkflows) -> WorkflowEnv:
    return open_workflows("jinan-2024")


def _post(env: WorkflowEnv, case: str, step: str, user: str, **body: Any) -> Any:
    return env.call("POST", f"/v1/catalog/changes/{case}/{step}", user, json=body)


def _state_records(env: WorkflowEnv, entry_id: str) -> list[dict[str, Any]]:
    """The catalog state topic's records of ``entry_id``, as the processors read them."""
    import json

    topic = state_topics(env.namespace).catalog
    raw = read_topic(env.bootstrap, topic, config=env.config)
    return [json.loads(v) for k, v in raw if k == entry_id.encode() and v]


def test_guiyang_the_bureau_reviews_the_government_approves_and_the_bus_publishes_g11(
    guiyang: WorkflowEnv,
) -> None:
    env = guiyang
    document = env.new_entry()
    entry_id = document["id"]
    # Only the provider submits its entry; the bureau and other agencies may not.
    assert env.submit_entry(document, user="hc-clerk").json()["code"] == "not_a_party"
    assert env.submit_entry(document, user="bureau").status_code == 403
    submitted = env.submit_entry(document)
    assert submitted.status_code == 201, submitted.text
    change = submitted.json()
    assert (change["state"], change["change"], change["pending"]) == (
        "submitted",
        "new_entry",
        "bureau_review",
    )
    assert change["reviews"] == ["bureau_review", "government_approval"]
    case = change["id"]
    # A second change of the same entry waits for this one.
    assert env.submit_entry(document).json()["code"] == "change_open"
    # Each step is its reviewer's: the government does not review, the bureau does not 审定.
    assert _post(env, case, "review", "gov").status_code == 403
    assert _post(env, case, "ratify", "gov").status_code == 409  # not yet reviewed
    env.clock.advance(timedelta(hours=1))
    reviewed = _post(env, case, "review", "bureau", reason="符合目录编制指南")
    assert reviewed.status_code == 200 and reviewed.json()["state"] == "reviewed"
    assert _post(env, case, "ratify", "bureau").status_code == 403
    assert env.flows.applications.reference.find_entry(entry_id) is None  # not yet
    env.clock.advance(timedelta(hours=1))
    ratified = _post(env, case, "ratify", "gov", reason="市政府审定")
    assert ratified.status_code == 200, ratified.text
    # The bus published it at once: the entry's topics, its state record, the store.
    assert ratified.json()["state"] == "published"
    stored = env.flows.applications.reference.find_entry(entry_id)
    assert stored is not None and stored.lifecycle.state is LifecycleState.PUBLISHED
    topics = Admin(env.bootstrap, extra_config=env.config).topics()
    assert topic_name(TopicKind.INGEST, entry_id) in topics
    records = _state_records(env, entry_id)
    assert records and records[-1]["state"] == "published"
    history = env.call("GET", f"/v1/catalog/changes/{case}/transitions", "auditor").json()
    steps = [(t["action"], t["actor"], t["article"]) for t in history["transitions"]]
    assert steps == [
        ("submit_change", "psb-clerk", "G 11; GM 14"),
        ("review", "bureau", "G 11; GM 14"),
        ("ratify", "gov", "G 11; GM 14"),
        ("publish", "govbus", "G 11; GM 14"),
    ]
    # The parties and the reviewers read it; another agency does not.
    assert env.call("GET", f"/v1/catalog/changes/{case}", "mca-clerk").status_code == 403
    mine = env.call("GET", "/v1/catalog/changes", "psb-clerk").json()["changes"]
    assert [c["id"] for c in mine] == [case]
    assert env.call("GET", "/v1/catalog/changes", "hc-clerk").json()["changes"] == []


def test_guiyang_a_return_needs_reasons_and_the_agency_resubmits_or_cancels(
    guiyang: WorkflowEnv,
) -> None:
    env = guiyang
    case = env.submit_entry(env.new_entry()).json()["id"]
    assert _post(env, case, "return", "gov", reasons="x").status_code == 409  # bureau's step
    bare = _post(env, case, "return", "bureau", reasons=" ")
    assert (bare.status_code, bare.json()["code"]) == (422, "missing_reasons")
    returned = _post(env, case, "return", "bureau", reasons="来源业务填写不规范")
    assert returned.json()["state"] == "returned"
    assert returned.json()["returned"]["reasons"] == "来源业务填写不规范"
    revised = env.new_entry(source_business="户籍登记")
    other = _post(env, case, "resubmit", "hc-clerk", entry=revised)
    assert other.status_code == 403
    again = _post(env, case, "resubmit", "psb-clerk", entry=revised, reason="按意见修改")
    assert again.status_code == 200 and again.json()["state"] == "submitted"
    assert again.json()["entry"]["source_business"] == "户籍登记"
    cancelled = _post(env, case, "cancel", "psb-clerk", reason="另行报送")
    assert cancelled.json()["state"] == "cancelled"


def test_an_invalid_or_refused_entry_is_422_with_its_article(guiyang: WorkflowEnv) -> None:
    env = guiyang
    # GM 24: nothing 涉密 on the Guiyang platform.
    secret = env.new_entry(sensitivity="secret", share_type="not_shared", share_basis="保密法")
    refused = env.submit_entry(secret)
    assert refused.status_code == 422 and refused.json()["article"] == "GM 24"
    # GM 22: an item has one source; 市民政局 cannot provide 市公安局's name item.
    taken = env.new_entry(
        provider=env.agency("city-mca"),
        items=[{"name": "name", "label_zh": "姓名", "type": "string", "tag": "person_name"}],
    )
    conflict = env.call(
        "POST", "/v1/catalog/changes", "mca-clerk", json={"entry": taken, "reason": ""}
    )
    assert (conflict.status_code, conflict.json()["code"]) == (422, "source_conflict")
    # GM 12, S 26: a base library entry is shared unconditionally.
    basic = env.flows.applications.reference.store.get_entry(env.entry("psb.person.basic"))
    assert basic is not None
    conditional = {k: v for k, v in basic.document.items() if k not in ("state", "withdrawal")} | {
        "share_type": "conditional",
        "share_basis": "某法",
    }
    restricted = env.submit_entry(conditional, reason="拟改为有条件共享")
    assert restricted.status_code == 422
    assert (restricted.json()["code"], restricted.json()["article"]) == (
        "base_library_restricted",
        "GM 12; S 26",
    )


def test_shenyang_files_conditional_entries_and_publishes_after_the_bureau_review_s18_s23(
    shenyang: WorkflowEnv,
) -> None:
    env = shenyang
    conditional = env.new_entry(share_type="conditional")
    bare = env.submit_entry(conditional)
    assert bare.status_code == 422 and bare.json()["article"] == "S 23"  # no legal basis
    basis = "《中华人民共和国居民身份证法》第十三条"
    submitted = env.submit_entry({**conditional, "share_basis": basis})
    assert submitted.status_code == 201, submitted.text
    change = submitted.json()
    assert change["reviews"] == ["bureau_review"]
    assert change["filing"]["legal_basis"] == basis and change["filing"]["article"] == "S 23"
    published = _post(env, change["id"], "review", "bureau")
    assert published.json()["state"] == "published"  # no government step (S 18)
    assert _post(env, change["id"], "ratify", "gov").status_code == 409


def test_shenyang_a_withdrawal_is_filed_in_advance_with_its_reason_s27(
    shenyang: WorkflowEnv,
) -> None:
    env = shenyang
    entry_id = env.entry("amr.company.registration")
    today = env.clock.now().date().isoformat()
    tomorrow = (env.clock.now() + timedelta(days=1)).date().isoformat()
    body = {"entry_id": entry_id, "reason": "登记系统迁移", "effective_on": today}
    same_day = env.call("POST", "/v1/catalog/withdrawals", "amr-clerk", json=body)
    assert (same_day.status_code, same_day.json()["code"]) == (422, "withdrawal_not_in_advance")
    assert same_day.json()["article"] == "S 27 ¶2"
    others = env.call("POST", "/v1/catalog/withdrawals", "psb-clerk", json=body)
    assert others.status_code == 403  # only the provider withdraws its entry
    filed = env.call(
        "POST", "/v1/catalog/withdrawals", "amr-clerk", json={**body, "effective_on": tomorrow}
    )
    assert filed.status_code == 201, filed.text
    # Filed, not approved: published at once; served until the day it takes effect.
    assert filed.json()["state"] == "published" and filed.json()["reviews"] == []
    stored = env.flows.applications.reference.find_entry(entry_id)
    assert stored is not None and stored.lifecycle.state is LifecycleState.WITHDRAWN
    assert stored.lifecycle.withdrawal is not None
    assert stored.lifecycle.withdrawal.reason == "登记系统迁移"
    assert stored.lifecycle.withdrawal.effective_on.isoformat() == tomorrow
    # On that day the bus takes the provider's right to write the entry away (its ACLs).
    stop = [t for t in env.flows.store.timers_of(filed.json()["id"]) if t.kind == "stop"]
    assert len(stop) == 1 and stop[0].done_at is None
    assert stop[0].due_at == datetime.fromisoformat(f"{tomorrow}T00:00:00+08:00")
    env.clock.set(stop[0].due_at)
    env.flows.run_once()
    done = [t for t in env.flows.store.timers_of(filed.json()["id"]) if t.kind == "stop"]
    assert done[0].outcome == "done"


def test_jinan_an_attribute_change_of_a_published_entry_needs_the_bureaus_consent_j9(
    jinan: WorkflowEnv,
) -> None:
    env = jinan
    # Jinan shares nothing between agencies (J 2): its entries are opening-only.
    document = env.new_entry(
        share_type="not_shared",
        share_basis="开放目录",
        open_type="conditional",
        open_basis="涉及个人隐私，经数据主体同意开放（第八条第三款第一项）",
        open_conditions=["签订公共数据开放利用协议"],
    )
    case = env.submit_entry(document).json()["id"]
    assert _post(env, case, "review", "bureau").json()["state"] == "published"  # J 11
    opened = {**document, "open_type": "unconditional", "open_desensitised": True}
    opened.pop("open_conditions")
    opened.pop("open_basis")
    submitted = env.submit_entry(opened, reason="定期评估后调整为无条件开放")
    assert submitted.status_code == 201, submitted.text
    change = submitted.json()
    assert change["change"] == "amendment" and change["attribute_change"]
    assert change["consent_basis"] == "J 9 ¶4"
    consented = _post(env, change["id"], "review", "bureau", reason="同意调整开放属性")
    assert consented.json()["state"] == "published"
    history = env.call("GET", f"/v1/catalog/changes/{change['id']}/transitions", "bureau")
    review = [t for t in history.json()["transitions"] if t["action"] == "review"]
    assert review[0]["article"] == "J 9 ¶4" and review[0]["details"]["consent"] is True
    stored = env.flows.applications.reference.find_entry(document["id"])
    assert stored is not None and stored.open_type.value == "unconditional"
