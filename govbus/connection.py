"""How a govbus process on this host reaches the broker: configured, or the local one.

A configured ``bootstrap`` (``GOVBUS_BOOTSTRAP``, TOML, or a credentials file's) is used as
configured. Otherwise, when the local broker (:mod:`govbus.broker.local`) runs, its loopback
ADMIN listener is used with its administrator's credentials, read from the file the broker
wrote (mode 0600): the local broker admits no unauthenticated client.
"""

from __future__ import annotations

from pathlib import Path

from govbus.broker.local import LocalBroker
from govbus.settings import Settings


def local_broker(settings: Settings) -> LocalBroker:
    return LocalBroker(
        settings.home,
        settings.kafka_version,
        settings.broker_heap,
        maven_settings=Path(settings.maven_settings) if settings.maven_settings else None,
    )


def connected(settings: Settings) -> Settings:
    """``settings`` with the local broker's administrator connection filled in when no
    broker is configured and the local one runs; else unchanged (bootstrap may be '')."""
    if settings.bootstrap:
        return settings
    broker = local_broker(settings)
    if not broker.status().running:
        return settings
    admin = broker.admin_config()
    bootstrap = admin.pop("bootstrap.servers", "")
    return settings.with_overrides(bootstrap=bootstrap, kafka={**admin, **settings.kafka})
