"""Where the agencies reach the broker: the agency listener (SASL_SSL) that the settings
configure, else the running local broker's. Used by the commands that issue an agency's
credentials and by the demo; the runtime never needs it (it loads the broker provisioning
code to ask the local broker)."""

from __future__ import annotations

from base.settings import Settings
from operations.access import AgencyListener
from operations.broker.local import LocalBroker


def agency_listener(settings: Settings) -> AgencyListener | None:
    """The configured agency listener, else the running local broker's, else None."""
    if settings.agency_bootstrap and settings.ca_location:
        return AgencyListener(
            settings.agency_bootstrap, settings.ca_location, settings.agency_probe_bootstrap
        )
    status = LocalBroker(settings.home, settings.kafka_version).status()
    if status.agency_bootstrap and status.ca_location:
        return AgencyListener(status.agency_bootstrap, status.ca_location)
    return None
