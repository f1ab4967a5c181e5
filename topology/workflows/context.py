"""The workflows assembled: one object that the HTTP service and the CLI both use.

:meth:`Workflows.open` builds everything from a database URL, a broker and the
:class:`WorkflowOptions` (the deployment's profile first); :meth:`Workflows.start` runs the
background loop (timers and the audit relay) that ``govbus serve`` keeps going, woken at
once after each state change.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from base.errors import GovbusError
from exchange.profiles import PACKAGED_PROFILES_DIR, ProfileSet, load_profiles
from exchange.workdays import WorkCalendar, load_work_calendar
from exchange.workflows import catalog_change as cc
from exchange.workflows import catalog_obligation as co
from exchange.workflows import share_application as sa
from producers.workflow_audit import WorkflowAuditWriter
from storage import migrate
from storage.accounts import AccountStore
from storage.engine import make_engine
from storage.reference import ReferenceStore
from storage.subscriptions import SubscriptionStore
from storage.workflows import WorkflowStore
from topology.reference_service import ReferenceService
from topology.workflows.accounts import DEFAULT_TOKEN_TTL, AccountService
from topology.workflows.applications import ShareApplications
from topology.workflows.audit import AuditRelay
from topology.workflows.catalog import CatalogChanges
from topology.workflows.clock import Clock, SystemClock
from topology.workflows.deployment import Deployment
from topology.workflows.obligations import CatalogObligations
from topology.workflows.subscriptions import Subscriptions
from topology.workflows.timers import TimerTarget, TimerWorker

log = logging.getLogger(__name__)

#: The background loop wakes at least this often (deadlines fall on the minute at worst).
POLL_INTERVAL_S = 1.0


@dataclass(frozen=True)
class WorkflowOptions:
    """How one instance is set up; every default but the profile is production's.

    ``extra_config``: the Kafka client settings; ``namespace``: the state topics'
    namespace (tests isolate themselves with one); ``clock``: the injected time (default
    the wall clock); ``audit``: run the audit relay; ``worker_owner``: the timer worker's
    lease owner (default a random one)."""

    profile_id: str
    extra_config: Mapping[str, Any] | None = None
    namespace: str | None = None
    clock: Clock | None = None
    profiles_dir: Path = PACKAGED_PROFILES_DIR
    holiday_dirs: Sequence[Path] = ()
    token_ttl: timedelta = DEFAULT_TOKEN_TTL
    audit: bool = True
    worker_owner: str | None = None


@dataclass
class Workflows:
    engine: Engine
    store: WorkflowStore
    accounts: AccountService
    applications: ShareApplications
    catalog: CatalogChanges
    obligations: CatalogObligations
    subscriptions: Subscriptions
    worker: TimerWorker
    relay: AuditRelay | None
    calendar: WorkCalendar
    clock: Clock
    _wake: threading.Event = field(default_factory=threading.Event)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    @classmethod
    def open(cls, database_url: str, bootstrap: str, options: WorkflowOptions) -> Workflows:
        """Migrate the database, then assemble the services (no broker call yet)."""
        migrate.upgrade(database_url)
        engine = make_engine(database_url)
        profiles: ProfileSet = load_profiles(options.profiles_dir)
        profiles.get(options.profile_id)  # an unknown profile fails here, before anything runs
        calendar = load_work_calendar(options.holiday_dirs)
        clock = options.clock or SystemClock()
        deployment = Deployment(profiles, options.profile_id, calendar, clock)
        store = WorkflowStore(engine)
        kafka = options.extra_config
        reference = ReferenceService(
            ReferenceStore(engine), bootstrap, namespace=options.namespace, extra_config=kafka
        )
        applications = ShareApplications(store, reference, deployment)
        catalog = CatalogChanges(store, reference, deployment)
        obligations = CatalogObligations(store, reference, deployment)
        subscriptions = Subscriptions(SubscriptionStore(engine), store, reference, clock)
        targets: dict[str, TimerTarget] = {
            sa.KIND: applications,
            cc.KIND: catalog,
            co.KIND: obligations,
        }
        worker = TimerWorker(store, targets, clock, owner=options.worker_owner)
        relay = (
            AuditRelay(
                store,
                lambda: WorkflowAuditWriter(
                    bootstrap, extra_config=kafka, namespace=options.namespace
                ),
            )
            if options.audit
            else None
        )
        accounts = AccountService(AccountStore(engine), store, clock, token_ttl=options.token_ttl)
        self = cls(
            engine=engine,
            store=store,
            accounts=accounts,
            applications=applications,
            catalog=catalog,
            obligations=obligations,
            subscriptions=subscriptions,
            worker=worker,
            relay=relay,
            calendar=calendar,
            clock=clock,
        )
        for service in (applications, catalog, obligations):
            service.after_change = self.changed
        subscriptions.after_change = self.changed
        return self

    def changed(self, case_id: str) -> None:
        """After a state change: its due timers now (a grant to publish), then the relay."""
        self.worker.run_due(case_id=case_id)
        self._wake.set()

    def run_once(self) -> int:
        """One pass of the background loop: due timers, then the audit relay."""
        acted = self.worker.run_due()
        if self.relay is not None:
            self.relay.run_once()
        return acted

    def start(self, interval_s: float = POLL_INTERVAL_S) -> None:
        if self._thread is not None:
            return
        self._stop.clear()

        def loop() -> None:
            while not self._stop.is_set():
                try:
                    self.run_once()
                except GovbusError as exc:  # the store is down: try again on the next pass
                    log.warning("workflow timers: %s", exc)
                self._wake.wait(interval_s)
                self._wake.clear()

        self._thread = threading.Thread(target=loop, name="govbus-workflows", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=60)
            self._thread = None

    def close(self) -> None:
        self.stop()
        if self.relay is not None:
            self.relay.close()
        self.engine.dispose()
