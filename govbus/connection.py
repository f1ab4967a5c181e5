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


def connected(settings: Settings, bootstrap: str = "") -> Settings:
    """``settings`` as they connect, to ``bootstrap`` when one is given (``--bootstrap``).

    A configured broker is used as configured. With none configured, the running local
    broker's administrator credentials are filled in, but only for that broker: when
    ``bootstrap`` names another address, its password is not sent there. Otherwise the
    settings are unchanged (``bootstrap`` may stay '')."""
    if settings.bootstrap:
        return settings.with_overrides(bootstrap=bootstrap) if bootstrap else settings
    broker = local_broker(settings)
    if broker.status().running:
        admin = broker.admin_config()
        local = admin.pop("bootstrap.servers", "")
        if not bootstrap or bootstrap == local:
            return settings.with_overrides(bootstrap=local, kafka={**admin, **settings.kafka})
    return settings.with_overrides(bootstrap=bootstrap) if bootstrap else settings
