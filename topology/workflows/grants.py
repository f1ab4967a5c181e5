"""The grants of a sharing application, made what its state says (G 15 ¶2, S 25 ¶3).

The current grant exists while the case is granted; grants it replaced (a dispute
settled with other items) and the grant of a revoked case are revoked. Every grant is
named after its case (``grant-<case>-<n>``), so issuing it again finds it: the timer that
runs this may run twice.
"""

from __future__ import annotations

from datetime import datetime

from exchange.workflows import share_application as sa
from topology.reference_service import GrantTerms, ReferenceService


def sync_grants(reference: ReferenceService, app: sa.ShareApplication, now: datetime) -> None:
    current = app.grant_id if app.state in sa.GRANTED else None
    for n in range(1, app.grants_issued + 1):
        grant_id = f"grant-{app.id}-{n}"
        stored = reference.store.get_grant(grant_id)
        if grant_id == current:
            if stored is None:
                _issue(reference, app, grant_id)
            continue
        replaced = n < app.grants_issued or app.state is sa.State.REVOKED
        if replaced and stored is not None and stored.revoked_at is None:
            reference.revoke_grant(grant_id, now)


def _issue(reference: ReferenceService, app: sa.ShareApplication, grant_id: str) -> None:
    answer = app.answer
    if answer is None or app.grant_from is None:  # pragma: no cover - granted states
        return
    reference.add_grant(
        GrantTerms(
            consumer=app.applicant,
            entry_id=app.request.entry_id,
            items=list(answer.items),
            purpose=app.request.purpose,
            basis=f"{app.request.legal_basis}（共享申请 {app.id}）",
            granted_by=app.provider,
            valid_from=app.grant_from,
            valid_until=answer.valid_until,
            grant_id=grant_id,
        )
    )
